// The stream merges before the final norm on the GPU (spec 2), fp32: the plain sum and the gate around its GEMMs
// (proj = vec(x) phi, dx += dproj phi^T and dphi += vec(x)^T dproj run through ops::matmul by the caller). The CPU
// oracles are ops::cpu::stream_sum_* and ops::cpu::head_merge_gate_*.
//
// Shapes: N tokens, n streams (1..8), C hidden size, D = n C; x (N, n, C), y and dy (N, C), w, proj, dlogit and
// dproj (N, n), rstd (N); alpha (1) and bias (n) on the device. Every launcher is asynchronous on `stream` and throws
// DeviceError for a failed launch. Deterministic: fixed summation orders, no atomics.
#pragma once

#include <cstdint>

#include "core/stream.hpp"

namespace mhc::kernels {

// y (N, C) = sum_i x[., i, :], streams in order 0..n-1 (the CPU's order, so bitwise equal); overwritten.
void launch_stream_sum_forward(float* y, const float* x, std::int64_t N, int n, std::int64_t C, StreamHandle stream);

// dx (N, n, C)[., i, :] = dy (N, C) for every stream i; overwritten.
void launch_stream_sum_backward(float* dx, const float* dy, std::int64_t N, int n, std::int64_t C,
                                StreamHandle stream);

// Given proj = vec(x) phi: rstd = 1 / sqrt(sum(vec(x)^2) / D + rms_eps) (the sum of squares in double),
// w = sigmoid(alpha (proj rstd) + bias) + weight_eps, y = sum_i w_i x[., i, :] (streams in order). rstd, w and y
// are overwritten. One block per token.
void launch_head_merge_gate_forward(float* y, float* w, float* rstd, const float* proj, const float* x,
                                    const float* alpha, const float* bias, std::int64_t N, int n, std::int64_t C,
                                    double rms_eps, float weight_eps, StreamHandle stream);

// The B pass without its GEMM, one block per token: dlogit = <dy, x[i]> s (1 - s) with s = w - weight_eps (the dot
// in double), dproj = alpha dlogit rstd, and dx = w_i dy + coef x[i] with coef = -(sum_i alpha dlogit_i proj_i)
// rstd^3 / D; dlogit, dproj and dx are overwritten (the caller then adds dproj phi^T to dx).
void launch_head_merge_gate_backward_input(float* dx, float* dlogit, float* dproj, const float* dy, const float* x,
                                           const float* alpha, const float* w, const float* proj, const float* rstd,
                                           std::int64_t N, int n, std::int64_t C, float weight_eps,
                                           StreamHandle stream);

// The W pass without its GEMM: dproj (N, n) = alpha dlogit rstd (overwritten, for the caller's dphi GEMM);
// dbias (n) += sum_t dlogit; dalpha (1) += sum over tokens and streams of dlogit (proj rstd). In double: per-block
// partial sums over fixed chunks of tokens into stream-ordered scratch, then the chunks added in order (the chunking
// depends on N alone, so the bits repeat from run to run).
void launch_head_merge_gate_weight_sums(float* dproj, float* dalpha, float* dbias, const float* dlogit,
                                        const float* proj, const float* rstd, const float* alpha, std::int64_t N,
                                        int n, StreamHandle stream);

}  // namespace mhc::kernels
