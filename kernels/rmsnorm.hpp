// RMSNorm on the GPU, fp32 tensors with double reductions; the CPU oracle is ops::cpu::rmsnorm_*.
#pragma once

#include <cstdint>

#include "core/stream.hpp"

namespace mhc::kernels {

// out (N, C) = x (N, C) * rstd * w (C), rstd (N) = 1 / sqrt(mean_c x^2 + eps), the sum of squares in double.
// Asynchronous on `stream`; a failed launch throws DeviceError.
void launch_rmsnorm_forward(float* out, float* rstd, const float* x, const float* w, std::int64_t N, std::int64_t C,
                            double eps, StreamHandle stream);

// dx (N, C) = rstd * w * dout - (rstd^3 / C) * x * sum_c(dout * w * x), in double per element; dx may alias dout.
void launch_rmsnorm_backward_input(float* dx, const float* dout, const float* x, const float* w, const float* rstd,
                                   std::int64_t N, std::int64_t C, StreamHandle stream);

// dw (C) += sum_n dout (N, C) * x (N, C) * rstd (N), in double: per-block partial sums over fixed row chunks, then
// the chunks summed in order, so the bits repeat from run to run. Uses stream-ordered scratch of
// (about min(N / 32, 256)) * C doubles.
void launch_rmsnorm_backward_weight(float* dw, const float* dout, const float* x, const float* rstd, std::int64_t N,
                                    std::int64_t C, StreamHandle stream);

}  // namespace mhc::kernels
