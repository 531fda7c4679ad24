// CPU stream read-out (pre-apply), fused write-back (post + res) and the one-pass x gradient of the n-stream
// residual, per token.
#pragma once

#include <cstdint>

namespace mhc::ops::cpu {

// u (N, C) = sum_i h_pre (N, n)[i] x (N, n, C)[i].
template <typename T>
void stream_pre_apply_forward(T* u, const T* x, const T* h_pre, std::int64_t N, std::int64_t n, std::int64_t C);

// dh_pre (N, n) = <du (N, C), x[i]> (overwritten).
template <typename T>
void stream_pre_apply_backward(T* dh_pre, const T* du, const T* x, std::int64_t N, std::int64_t n, std::int64_t C);

// x_out (N, n, C)[i] = sum_j h_res (N, n, n)[i, j] x[j] + h_post (N, n)[i] y (N, C).
template <typename T>
void stream_post_res_forward(T* x_out, const T* x, const T* y, const T* h_res, const T* h_post, std::int64_t N,
                             std::int64_t n, std::int64_t C);

// dy = sum_i h_post[i] dx_out[i]; dh_res[i, j] = <dx_out[i], x[j]>; dh_post[i] = <dx_out[i], y> (all overwritten).
// dy null: only the coefficient gradients; dh_res and dh_post null: only dy.
template <typename T>
void stream_post_res_backward(T* dy, T* dh_res, T* dh_post, const T* dx_out, const T* x, const T* y, const T* h_post,
                              std::int64_t N, std::int64_t n, std::int64_t C);

// dx[j] += sum_i h_res[i, j] dx_out[i] + h_pre[j] du + x_coef x[j] (x_coef (N) may be null: no x term).
template <typename T>
void stream_mix_backward(T* dx, const T* dx_out, const T* du, const T* h_res, const T* h_pre, const T* x,
                         const T* x_coef, std::int64_t N, std::int64_t n, std::int64_t C);

}  // namespace mhc::ops::cpu
