// Sinkhorn-Knopp forward and backward on the GPU (spec 2.4), fp32; the CPU oracles are ops::cpu::sinkhorn_forward
// and ops::cpu::sinkhorn_backward.
#pragma once

#include <cstdint>

#include "core/stream.hpp"

namespace mhc::kernels {

// h (N, n, n) = Sinkhorn(logits (N, n, n)): exp(logits - max over the matrix), then `iters` times columns /=
// (colsum + eps), rows /= (rowsum + eps), eps = ops::kSinkhornEps. 1 <= n <= 8, iters >= 1; h may not alias
// logits. Asynchronous on `stream`; a failed launch throws DeviceError.
void launch_sinkhorn_forward(float* h, const float* logits, std::int64_t N, int n, int iters, StreamHandle stream);

// dlogits (N, n, n) = d<dh, h>/dlogits (overwritten), exact through all 2 iters normalisations, the exp and the max
// shift, recomputing the iterates from the logits (one thread per token, its 2 iters + 1 iterates in shared memory:
// (2 iters + 1) n^2 * 4 bytes per token; beyond 48 KiB per token the launcher opts in to the device's larger limit
// and throws ShapeError where even that is too small). Same operation order as the CPU oracle; only expf differs.
// dlogits may not alias dh or logits. Asynchronous on `stream`.
void launch_sinkhorn_backward(float* dlogits, const float* dh, const float* logits, std::int64_t N, int n, int iters,
                              StreamHandle stream);

}  // namespace mhc::kernels
