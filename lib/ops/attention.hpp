// Causal multi-head attention core (softmax(q k^T / sqrt(D)) v), flash-attention style: only the per-row
// log-sum-exp is saved between forward and backward, never the T x T probabilities.
#pragma once

#include "core/tensor.hpp"

namespace mhc::ops {

// out (B, T, H, D) = softmax_j(s_ij) v_j with s_ij = q_i . k_j / sqrt(D) for key positions j <= i (causal mask),
// per batch b and head h; q, k, v (B, T, H, D). lse (B, H, T) = log sum_{j <= i} exp(s_ij) (saved).
// Both outputs are overwritten; out must not alias q, k or v. CPU f32/f64 or CUDA f32 (kernels/attention.hpp:
// head dimension D <= 128 there, ShapeError otherwise). On the CPU every tensor but lse may also be bf16 in an f32
// call, forward and backward (ops/bf16_staging.hpp).
void attention_forward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v);

// B: dq, dk, dv (B, T, H, D) (overwritten; must not alias the inputs) from dout (B, T, H, D), the forward's inputs
// q, k, v, its output out and lse (B, H, T). The probabilities are recomputed as P = exp(s - lse);
// with D_i = rowsum(dout * out) (FlashAttention-2): dv = P^T dout, dS = P * (dout v^T - D_i),
// dq = dS k / sqrt(D), dk = dS^T q / sqrt(D). Attention has no weights.
void attention_backward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor q, Tensor k, Tensor v, Tensor out,
                        Tensor lse);

}  // namespace mhc::ops
