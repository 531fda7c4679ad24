// Sinkhorn-Knopp forward on the GPU (spec 2.4), fp32; the CPU oracle is ops::cpu::sinkhorn_forward.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace mhc::kernels {

// h (N, n, n) = Sinkhorn(logits (N, n, n)): exp(logits - max over the matrix), then `iters` times columns /=
// (colsum + eps), rows /= (rowsum + eps), eps = ops::kSinkhornEps. 1 <= n <= 8, iters >= 1; h may not alias
// logits. Asynchronous on `stream`; a failed launch throws DeviceError.
void launch_sinkhorn_forward(float* h, const float* logits, std::int64_t N, int n, int iters, cudaStream_t stream);

}  // namespace mhc::kernels
