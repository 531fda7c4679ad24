// Dynamic Hyper-Connections coefficients (spec 2.2): H_pre, H_post, H_res from xb = RMSNorm(x_i), split backward.
#pragma once

#include "core/tensor.hpp"

namespace mhc::ops {

// Shapes: N tokens, n streams (1..8), C hidden size. xb (N, n, C) is the per-stream RMSNorm of the stream state
// (computed by the caller). Parameters of one residual layer:
//   w (C, n+2) packs the columns [w_m | W_r (n columns) | w_b]; s (2) = (s_a, s_b);
//   static am (n), ar (n, n) (row i = what stream i sends to each output stream), bb (n).
// All tensors one dtype on one device: CPU f32 or f64, or CUDA f32 (the GEMMs through ops::matmul, the rest in
// kernels/hc_coeffs.hpp).
//
// Forward, per token: proj[i, :] = xb_i w (one GEMM over all tokens and streams), then
//   A_m[i]    = s_a tanh(proj[i, 0])      + am[i]         -> h_pre[i]  = A_m[i]
//   A_r[i, j] = s_a tanh(proj[i, 1 + j])  + ar[i, j]      -> h_res[j, i] = A_r[i, j]  (H_res = A_r^T:
//                                                            column i of H_res comes from stream i)
//   B[i]      = s_b tanh(proj[i, n + 1])  + bb[i]         -> h_post[i] = B[i]
// Every output is overwritten; proj is saved for the backward.
void hc_coeffs_forward(Tensor h_pre,   // (N, n)
                       Tensor h_post,  // (N, n)
                       Tensor h_res,   // (N, n, n)
                       Tensor proj,    // (N, n, n+2) saved: xb_i w
                       Tensor xb,      // (N, n, C)
                       Tensor w,       // (C, n+2)
                       Tensor s,       // (2)
                       Tensor am,      // (n)
                       Tensor ar,      // (n, n)
                       Tensor bb);     // (n)

// B: dproj (overwritten, kept for W) = gradient w.r.t. proj: s_a (1 - tanh^2) times dh_pre resp. dh_res^T,
// s_b (1 - tanh^2) dh_post; dxb = dproj w^T (overwritten: xb feeds only these coefficients).
void hc_coeffs_backward_input(Tensor dxb,      // (N, n, C) overwritten
                              Tensor dproj,    // (N, n, n+2) overwritten, kept for W
                              Tensor dh_pre,   // (N, n)
                              Tensor dh_post,  // (N, n)
                              Tensor dh_res,   // (N, n, n)
                              Tensor proj,     // (N, n, n+2) saved
                              Tensor w,        // (C, n+2)
                              Tensor s);       // (2)

// W (all accumulate, gradient accumulation over micro-batches):
//   dw += xb^T dproj (over all tokens and streams);
//   ds_a += sum dh_pre * tanh(proj[., 0]) + sum dh_res^T * tanh(proj[., 1..n]);
//   ds_b += sum dh_post * tanh(proj[., n+1]);
//   dam += sum_N dh_pre; dar[i, j] += sum_N dh_res[j, i]; dbb += sum_N dh_post.
void hc_coeffs_backward_weight(Tensor dw,       // (C, n+2) +=
                               Tensor ds,       // (2) +=
                               Tensor dam,      // (n) +=
                               Tensor dar,      // (n, n) +=
                               Tensor dbb,      // (n) +=
                               Tensor dproj,    // (N, n, n+2) from B
                               Tensor dh_pre,   // (N, n)
                               Tensor dh_post,  // (N, n)
                               Tensor dh_res,   // (N, n, n)
                               Tensor xb,       // (N, n, C)
                               Tensor proj);    // (N, n, n+2) saved

// HC-paper init of residual layer `layer_index` (CPU f32 or f64; n from am): w = 0, s_a = s_b = scale_init,
// am = one-hot e_{layer_index mod n}, ar = I, bb = 1. Deterministic, no RNG. At init HC is a pre-norm residual network.
void hc_init_parameters(Tensor w,   // (C, n+2)
                        Tensor s,   // (2)
                        Tensor am,  // (n)
                        Tensor ar,  // (n, n)
                        Tensor bb,  // (n)
                        int layer_index, double scale_init = 0.01);

}  // namespace mhc::ops
