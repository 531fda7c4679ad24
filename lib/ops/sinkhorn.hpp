// Sinkhorn-Knopp projection of per-token n x n logits onto (nearly) doubly stochastic matrices (spec 2.4).
#pragma once

#include "core/tensor.hpp"

namespace mhc::ops {

// Epsilon added to every row/column sum before dividing (spec 2.4).
constexpr double kSinkhornEps = 1e-6;
// Largest supported number of streams n (the CUDA kernel keeps one n x n matrix per thread).
constexpr int kSinkhornMaxStreams = 8;

// h (N, n, n) = Sinkhorn(logits (N, n, n)): M = exp(logits - max of the token's matrix), then `iters` times
// columns /= (colsum + eps), rows /= (rowsum + eps). Rows end normalised. iters >= 1, 1 <= n <= kSinkhornMaxStreams.
// f32 or f64 on the CPU, f32 on CUDA.
void sinkhorn_forward(Tensor h, Tensor logits, int iters);

// Exact backward through all 2*iters normalisations and the exp, recomputing the iterates from `logits`
// (nothing but the logits is saved). dlogits (N, n, n) is overwritten. The max shift is differentiated too
// (it only matters through eps). f32 or f64 on the CPU, f32 on CUDA (the iterates of a token in shared memory).
void sinkhorn_backward(Tensor dlogits, Tensor dh, Tensor logits, int iters);

}  // namespace mhc::ops
