// Causal attention on the GPU (fp32), flash-attention style; the CPU oracle is ops::cpu::attention_*.
#pragma once

#include <cstdint>

#include "core/stream.hpp"

namespace mhc::kernels {

// Largest head dimension the kernels support (any D in [1, kAttentionMaxHeadDim]).
constexpr std::int64_t kAttentionMaxHeadDim = 128;

// out (B, T, H, D) = softmax_{j <= i}(q_i . k_j / sqrt(D)) v_j and lse (B, H, T) = log sum_{j <= i} exp(s_ij), from
// q, k, v (B, T, H, D); both overwritten. Tiles of 64 queries per block, online softmax over key tiles up to the
// causal limit; no T x T matrix in global memory. Throws ShapeError for D outside [1, 128], DeviceError when a
// launch fails. Asynchronous on `stream`.
void launch_attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, std::int64_t B,
                              std::int64_t T, std::int64_t H, std::int64_t D, StreamHandle stream);

// dq, dk, dv (B, T, H, D) (overwritten) from dout (B, T, H, D), q, k, v, out (B, T, H, D) and lse (B, H, T), with
// P = exp(s - lse) recomputed per tile and D_i = rowsum(dout * out) (FlashAttention-2). No atomics: dq loops over
// key tiles per query tile, dk and dv over query tiles per key tile, each in a fixed order, so the bits repeat.
// Uses stream-ordered scratch of B * H * T floats (D_i). Same errors as the forward.
void launch_attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                               const float* v, const float* out, const float* lse, std::int64_t B, std::int64_t T,
                               std::int64_t H, std::int64_t D, StreamHandle stream);

}  // namespace mhc::kernels
