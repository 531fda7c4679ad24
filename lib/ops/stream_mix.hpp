// Stream read-out and write-back of the n-stream residual update x' = H_res x + H_post^T y, y = F(H_pre x).
#pragma once

#include "core/tensor.hpp"

namespace mhc::ops {

// Every op runs on the CPU in f32 or f64 and on CUDA in f32 (n <= 8 there; kernels/stream_mix.cuh).

// Pre-apply: u (N, C) = sum_i h_pre (N, n)[i] * x (N, n, C)[i].
void stream_pre_apply_forward(Tensor u, Tensor x, Tensor h_pre);
// Backward: dx (N, n, C) += h_pre[i] * du (accumulates: x has several consumers);
// dh_pre (N, n) = <du, x[i]> (overwritten).
void stream_pre_apply_backward(Tensor dx, Tensor dh_pre, Tensor du, Tensor x, Tensor h_pre);

// Fused post + res: x_out (N, n, C)[i] = sum_j h_res (N, n, n)[i, j] * x[j] + h_post (N, n)[i] * y (N, C).
// Reads (n + 1) C and writes n C per token. x_out must not alias x.
void stream_post_res_forward(Tensor x_out, Tensor x, Tensor y, Tensor h_res, Tensor h_post);
// Backward: dx[j] += sum_i h_res[i, j] dx_out[i] (accumulates); dy (N, C) = sum_i h_post[i] dx_out[i] (overwritten);
// dh_res[i, j] = <dx_out[i], x[j]>, dh_post[i] = <dx_out[i], y> (overwritten).
void stream_post_res_backward(Tensor dx, Tensor dy, Tensor dh_res, Tensor dh_post, Tensor dx_out, Tensor x, Tensor y,
                              Tensor h_res, Tensor h_post);

}  // namespace mhc::ops
