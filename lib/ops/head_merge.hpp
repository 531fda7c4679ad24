// Output contraction of the n residual streams before the final RMSNorm (spec 2): plain sum or the learned gate.
#pragma once

#include "core/tensor.hpp"

namespace mhc::ops {

// Added to every gate weight so that no stream is ever merged with weight exactly 0 (spec 2, DeepSeek-V4 style).
constexpr double kHeadMergeWeightEps = 1e-6;

// Shapes: N tokens, n streams (1..8), C hidden size. All tensors one dtype on one device: CPU f32 or f64, or CUDA f32
// (the GEMMs through ops::matmul, the rest in kernels/head_merge.hpp).

// head_merge "sum": y (N, C) = sum_i x (N, n, C)[i], summed in stream order 0..n-1. y is overwritten.
void stream_sum_forward(Tensor y, Tensor x);
// dx (N, n, C)[i] = dy (N, C) for every stream i. dx is overwritten (the merge is x_L's only consumer).
void stream_sum_backward(Tensor dx, Tensor dy);

// head_merge "gate": y (N, C) = sum_i w_i x[i] with per-token weights
//   proj = vec(x) phi (one GEMM over all tokens), rstd = 1 / sqrt(mean(vec(x)^2) + kMhcRmsEps) (the RMS convention
//   of ops/mhc_coeffs.hpp), logit = alpha * proj * rstd + bias, w = sigmoid(logit) + kHeadMergeWeightEps.
// Parameters: phi (n*C, n), alpha (1), bias (n). Every output is overwritten; proj, rstd and w are saved for the
// backward.
void head_merge_gate_forward(Tensor y,      // (N, C)
                             Tensor w,      // (N, n) saved
                             Tensor proj,   // (N, n) saved
                             Tensor rstd,   // (N) saved
                             Tensor x,      // (N, n, C) final stream state x_L
                             Tensor phi,    // (n*C, n)
                             Tensor alpha,  // (1)
                             Tensor bias);  // (n)

// B: dlogit (overwritten) = dL/dlogit = <dy, x[i]> * s (1 - s) with s = w - kHeadMergeWeightEps the sigmoid;
// dx (overwritten) = w_i dy + dproj phi^T + d(rstd) * (-rstd^3 / (nC)) * x with dproj = alpha * dlogit * rstd and
// d(rstd) = sum_i alpha * dlogit_i * proj_i. dlogit is the only thing W needs from B.
void head_merge_gate_backward_input(Tensor dx,      // (N, n, C) overwritten
                                    Tensor dlogit,  // (N, n) overwritten, kept for W
                                    Tensor dy,      // (N, C)
                                    Tensor x,       // (N, n, C)
                                    Tensor phi,     // (n*C, n)
                                    Tensor alpha,   // (1)
                                    Tensor w,       // (N, n) saved
                                    Tensor proj,    // (N, n) saved
                                    Tensor rstd);   // (N) saved

// W: dphi += vec(x)^T dproj; dalpha += sum over tokens and streams of dlogit * proj * rstd; dbias += sum over tokens
// of dlogit. All three accumulate (gradient accumulation over micro-batches).
void head_merge_gate_backward_weight(Tensor dphi,    // (n*C, n) +=
                                     Tensor dalpha,  // (1) +=
                                     Tensor dbias,   // (n) +=
                                     Tensor dlogit,  // (N, n) from B
                                     Tensor x,       // (N, n, C)
                                     Tensor proj,    // (N, n) saved
                                     Tensor rstd,    // (N) saved
                                     Tensor alpha);  // (1)

}  // namespace mhc::ops
