// CPU Sinkhorn-Knopp on per-token n x n matrices: forward and exact backward (recomputing the iterates).
#pragma once

#include <cstdint>

namespace mhc::ops::cpu {

// h (N, n, n) = Sinkhorn(logits (N, n, n)): exp(logits - max over the matrix), then `iters` times
// columns /= (colsum + eps), rows /= (rowsum + eps). h may not alias logits.
template <typename T>
void sinkhorn_forward(T* h, const T* logits, std::int64_t N, int n, int iters, T eps);

// dlogits (N, n, n) = d<dh, h>/dlogits, overwritten; exact through every normalisation, the exp and the max.
template <typename T>
void sinkhorn_backward(T* dlogits, const T* dh, const T* logits, std::int64_t N, int n, int iters, T eps);

}  // namespace mhc::ops::cpu
