// RMSNorm with a learned weight: forward saving the per-row reciprocal RMS, backward split into B and W.
// Every tensor f32 or f64 on the CPU, or f32 on CUDA (all on one device). On the CPU out, x and dout may also be
// bf16 in an f32 call: loaded as f32, rounded once when stored (ops/bf16_staging.hpp).
#pragma once

#include "core/tensor.hpp"

namespace mhc::ops {

// out (N, C) = x (N, C) * rstd * w (C), rstd (N) = 1 / sqrt(mean_c x^2 + eps) (both overwritten; rstd is saved
// for the backward). The model uses eps = 1e-6. Sums of squares accumulate in double.
void rmsnorm_forward(Tensor out, Tensor rstd, Tensor x, Tensor w, double eps);

// B: dx (N, C) = rstd * w * dout - (rstd^3 / C) * x * sum_c(dout * w * x)  (overwritten; may alias dout).
// dout (N, C), x (N, C), w (C), rstd (N) from the forward.
void rmsnorm_backward_input(Tensor dx, Tensor dout, Tensor x, Tensor w, Tensor rstd);

// W: dw (C) += sum_n dout (N, C) * x (N, C) * rstd (N)  (accumulates; in double: rows in order on the CPU, fixed
// row chunks then the chunks in order on CUDA, so every run repeats its bits).
void rmsnorm_backward_weight(Tensor dw, Tensor dout, Tensor x, Tensor rstd);

}  // namespace mhc::ops
