// The per-token gates of the mHC coefficients on the GPU (spec 2.3), fp32: from the projection (kernels/
// mhc_projection.cuh) to H_pre, H_post, the H_res logits and optionally H_res itself, and back to dtilde. The CPU
// oracles are ops::cpu::mhc_coeffs_forward (after its projection) and the first loop of
// ops::cpu::mhc_coeffs_backward_input.
#pragma once

#include <cstdint>

#include "core/stream.hpp"

namespace mhc::kernels {

// One thread per token, z = proj (N, K) * rstd (N), K = n^2 + 2n columns [pre | post | res]:
// h_pre (N, n) = sigmoid(alpha[0] z_pre + b_pre), h_post (N, n) = 2 sigmoid(alpha[1] z_post + b_post),
// res_logits (N, n, n) = alpha[2] z_res + b_res, all overwritten; alpha (3) and bias (K) on the device. The
// pre-activations are rounded exactly as the CPU (no FMA contraction), so only expf differs from it. When h_res is
// not null, also h_res (N, n, n) = Sinkhorn(res_logits) with `sinkhorn_iters` iterations, computed in registers
// from the logits just formed (the operations of launch_sinkhorn_forward). 1 <= n <= 8. Asynchronous on `stream`.
void launch_mhc_gates_forward(float* h_pre, float* h_post, float* res_logits, float* h_res, const float* proj,
                              const float* rstd, const float* alpha, const float* bias, std::int64_t N, int n,
                              int sinkhorn_iters, StreamHandle stream);

// dtilde (N, K) (overwritten) = the gradient w.r.t. the pre-activations: dh_pre h_pre (1 - h_pre),
// dh_post h_post (1 - h_post / 2), dres_logits; rounded exactly as the CPU (bitwise equal). One thread per element.
void launch_mhc_gates_backward(float* dtilde, const float* dh_pre, const float* dh_post, const float* dres_logits,
                               const float* h_pre, const float* h_post, std::int64_t N, int n, StreamHandle stream);

}  // namespace mhc::kernels
