// Fused stream write-back (post + res) of the mHC residual on the GPU, fp32; the CPU oracle is
// ops::cpu::stream_post_res_forward.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace mhc::kernels {

// x_out (N, n, C)[i] = sum_j h_res (N, n, n)[i, j] x (N, n, C)[j] + h_post (N, n)[i] y (N, C), 1 <= n <= 8.
// Reads x and y once per token and writes x_out once: (n + 1) C reads, n C writes; float4 accesses when
// C % 4 == 0 and x, y, x_out are 16-byte aligned. x_out may not alias x. Asynchronous on `stream`.
void launch_stream_post_res_forward(float* x_out, const float* x, const float* y, const float* h_res,
                                    const float* h_post, std::int64_t N, int n, std::int64_t C, cudaStream_t stream);

}  // namespace mhc::kernels
