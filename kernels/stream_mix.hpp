// Stream read-out (pre-apply) and fused write-back (post + res) of the mHC residual on the GPU, forward and
// backward, fp32; the CPU oracles are the functions of the same names in ops::cpu (ops/cpu/stream_mix_cpu.hpp).
// All launchers: 1 <= n <= 8, 64-bit extents, float4 accesses when C % 4 == 0 and the (N, C)-sized pointers are
// 16-byte aligned, asynchronous on `stream`, a failed launch throws DeviceError. No atomics: every output element
// is written by one thread, and the dot products over C are summed in a fixed order (deterministic).
#pragma once

#include <cstdint>

#include "core/stream.hpp"

namespace mhc::kernels {

// x_out (N, n, C)[i] = sum_j h_res (N, n, n)[i, j] x (N, n, C)[j] + h_post (N, n)[i] y (N, C).
// Reads x and y once per token and writes x_out once: (n + 1) C reads, n C writes. x_out may not alias x.
void launch_stream_post_res_forward(float* x_out, const float* x, const float* y, const float* h_res,
                                    const float* h_post, std::int64_t N, int n, std::int64_t C, StreamHandle stream);

// u (N, C) = sum_i h_pre (N, n)[i] x (N, n, C)[i], rounded exactly as the CPU oracle (bitwise equal).
void launch_stream_pre_apply_forward(float* u, const float* x, const float* h_pre, std::int64_t N, int n,
                                     std::int64_t C, StreamHandle stream);

// dh_pre (N, n) = <du (N, C), x[i]> (overwritten; one block per token sums over C).
void launch_stream_pre_apply_backward(float* dh_pre, const float* du, const float* x, std::int64_t N, int n,
                                      std::int64_t C, StreamHandle stream);

// dy (N, C) = sum_i h_post[i] dx_out[i] (bitwise as the CPU); dh_res (N, n, n)[i, j] = <dx_out[i], x[j]>,
// dh_post (N, n)[i] = <dx_out[i], y> (overwritten; block sums over C). Reads dx_out, x (n C each) and y (C), writes
// dy (C) per token. dy null: the coefficient gradients only; dh_res and dh_post null: dy only.
void launch_stream_post_res_backward(float* dy, float* dh_res, float* dh_post, const float* dx_out, const float* x,
                                     const float* y, const float* h_post, std::int64_t N, int n, std::int64_t C,
                                     StreamHandle stream);

// dx (N, n, C)[j] += sum_i h_res[i, j] dx_out[i] + h_pre[j] du (N, C) + x_coef (N) x[j], bitwise as the CPU
// (ops::cpu::stream_mix_backward); x_coef null: no x term (x is then not read). Reads dx_out, dx (and x) (n C each)
// and du (C), writes dx (n C) per token.
void launch_stream_mix_backward(float* dx, const float* dx_out, const float* du, const float* h_res,
                                const float* h_pre, const float* x, const float* x_coef, std::int64_t N, int n,
                                std::int64_t C, StreamHandle stream);

}  // namespace mhc::kernels
