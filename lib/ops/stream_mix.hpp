// Stream read-out and write-back of the n-stream residual update x' = H_res x + H_post^T y, y = F(H_pre x).
#pragma once

#include "core/tensor.hpp"

namespace mhc::ops {

// Every op runs on the CPU in f32 or f64 and on CUDA in f32 (n <= 8 there; kernels/stream_mix.hpp).

// Pre-apply: u (N, C) = sum_i h_pre (N, n)[i] * x (N, n, C)[i].
void stream_pre_apply_forward(Tensor u, Tensor x, Tensor h_pre);
// Backward w.r.t. the coefficients: dh_pre (N, n) = <du (N, C), x[i]> (overwritten). The x gradient h_pre[i] du is
// one of the terms stream_mix_backward sums.
void stream_pre_apply_backward(Tensor dh_pre, Tensor du, Tensor x);
// Fused post + res: x_out (N, n, C)[i] = sum_j h_res (N, n, n)[i, j] * x[j] + h_post (N, n)[i] * y (N, C).
// Reads (n + 1) C and writes n C per token. x_out must not alias x.
void stream_post_res_forward(Tensor x_out, Tensor x, Tensor y, Tensor h_res, Tensor h_post);
// Backward w.r.t. y and the coefficients: dy (N, C) = sum_i h_post[i] dx_out[i]; dh_res[i, j] = <dx_out[i], x[j]>,
// dh_post[i] = <dx_out[i], y> (all overwritten). The x gradient H_res^T dx_out is one of the terms stream_mix_backward
// sums. Either part may be skipped: dy undefined (coefficients only), or dh_res and dh_post undefined (dy only).
// On the CPU dy may also be bf16 in an f32 call (the sublayer's matmul operand; ops/bf16_staging.hpp).
void stream_post_res_backward(Tensor dy, Tensor dh_res, Tensor dh_post, Tensor dx_out, Tensor x, Tensor y,
                              Tensor h_post);
// The x gradient of a mixing layer's stream terms, in one pass (x feeds post+res, the pre-apply and, for mHC, the
// RMS of the coefficients):
//   dx (N, n, C)[j] += sum_i h_res[i, j] dx_out[i] + h_pre[j] du (N, C) + x_coef (N) * x[j]
// (accumulates onto the coefficient path's gradient, which the caller writes first). x_coef undefined: no x term.
// Per element: the i terms summed in ascending i, then + h_pre du, + x_coef x, then
// added to dx.
void stream_mix_backward(Tensor dx, Tensor dx_out, Tensor du, Tensor h_res, Tensor h_pre, Tensor x, Tensor x_coef);

}  // namespace mhc::ops
