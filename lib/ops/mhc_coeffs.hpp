// mHC connection coefficients (spec 2.3): H_pre, H_post and the H_res logits from the stream state x, split backward.
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor.hpp"

namespace mhc::ops {

// Epsilon inside the RMS: r = sqrt(mean(vec(x)^2) + eps), rstd = 1 / r (eps inside the square root, our choice;
// the spec's "RMS + eps 1e-6" does not say where the eps goes).
constexpr double kMhcRmsEps = 1e-6;

// Shapes: N tokens, n streams (1..8), C hidden size, K = n*n + 2n coefficient columns in the order
// [pre (n) | post (n) | res (n*n, row-major: column 2n + i*n + j is H_res[i, j])].
// Parameters of one residual layer: phi (n*C, K), alpha (3) = (alpha_pre, alpha_post, alpha_res), bias (K).
// All tensors one dtype on one device: CPU f32 or f64, or CUDA f32 (kernels/mhc_projection.hpp, mhc_coeffs.cuh).
//
// Forward ("RMSNorm reordering": the product is taken on the raw vec(x), the 1/r scaling afterwards):
//   proj = vec(x) phi (one GEMM over all tokens), rstd = 1 / sqrt(mean(vec(x)^2) + kMhcRmsEps), z = proj * rstd
//   h_pre = sigmoid(alpha_pre * z_pre + b_pre), h_post = 2 sigmoid(alpha_post * z_post + b_post),
//   res_logits = alpha_res * z_res + b_res (the caller applies Sinkhorn).
// Every output is overwritten; proj and rstd are saved for the backward.
void mhc_coeffs_forward(Tensor h_pre,       // (N, n)
                        Tensor h_post,      // (N, n)
                        Tensor res_logits,  // (N, n, n)
                        Tensor proj,        // (N, K) saved
                        Tensor rstd,        // (N) saved
                        Tensor x,           // (N, n, C) stream state
                        Tensor phi,         // (n*C, K)
                        Tensor alpha,       // (3)
                        Tensor bias);       // (K)

// mhc_coeffs_forward, then h_res = Sinkhorn(res_logits) with `sinkhorn_iters` iterations (ops::sinkhorn_forward).
// On CUDA the coefficient kernel runs Sinkhorn on each token's logits in registers (one launch and one round trip of
// the logits fewer); the logits are still written, as the Sinkhorn backward needs them.
void mhc_coeffs_sinkhorn_forward(Tensor h_pre,       // (N, n)
                                 Tensor h_post,      // (N, n)
                                 Tensor res_logits,  // (N, n, n)
                                 Tensor h_res,       // (N, n, n)
                                 Tensor proj,        // (N, K) saved
                                 Tensor rstd,        // (N) saved
                                 Tensor x,           // (N, n, C) stream state
                                 Tensor phi,         // (n*C, K)
                                 Tensor alpha,       // (3)
                                 Tensor bias,        // (K)
                                 int sinkhorn_iters);

// B: dtilde (overwritten) = gradient w.r.t. the pre-activation values alpha * z + b, in the column order above;
// dx (overwritten) = dproj phi^T with dproj = alpha_blk * dtilde * rstd, and x_coef (overwritten) =
// d(rstd) * (-rstd^3 / (nC)) with d(rstd) = sum_k alpha_blk * dtilde_k * proj_k: the whole gradient through the
// coefficients is dx + x_coef * x, and the x_coef * x term is left to ops::stream_mix_backward, which passes over x
// anyway (x is not read here).
// dtilde is the only thing W needs from B. B and W each rebuild dproj from dtilde in an (N, K) scratch buffer:
// K = n^2 + 2n is small next to the n*C columns of x, so this is cheaper than keeping a second saved tensor.
void mhc_coeffs_backward_input(Tensor dx,           // (N, n, C) overwritten
                               Tensor x_coef,       // (N) overwritten
                               Tensor dtilde,       // (N, K) overwritten, kept for W
                               Tensor dh_pre,       // (N, n)
                               Tensor dh_post,      // (N, n)
                               Tensor dres_logits,  // (N, n, n)
                               Tensor phi,          // (n*C, K)
                               Tensor alpha,        // (3)
                               Tensor h_pre,        // (N, n) forward output
                               Tensor h_post,       // (N, n) forward output
                               Tensor proj,         // (N, K) saved
                               Tensor rstd);        // (N) saved

// W: dphi += vec(x)^T dproj; dalpha[blk] += sum over tokens and the block's columns of dtilde * z (z = proj * rstd);
// dbias += sum over tokens of dtilde. All three accumulate (gradient accumulation over micro-batches).
void mhc_coeffs_backward_weight(Tensor dphi,    // (n*C, K) +=
                                Tensor dalpha,  // (3) +=
                                Tensor dbias,   // (K) +=
                                Tensor dtilde,  // (N, K) from B
                                Tensor x,       // (N, n, C)
                                Tensor proj,    // (N, K) saved
                                Tensor rstd,    // (N) saved
                                Tensor alpha);  // (3)

// Initial values of one layer's mHC parameters (spec 2.3).
struct MhcInit {
  enum class Bias { identity, zero };
  enum class Phi { xavier, zero };
  int n = 4;                 // number of streams
  double alpha_init = 0.01;  // every alpha
  // identity: b_pre = -3 except +3 at the home stream (layer_index mod n), b_post = 0, b_res = 6 I - 3; zero: all 0.
  Bias bias = Bias::identity;
  // xavier: U(-a, a), a = sqrt(6 / (n*C + K)), drawn with the counter RNG keyed by name_prefix + ".phi"; zero: all 0.
  Phi phi = Phi::xavier;
};

// Fills phi (n*C, K), alpha (3) and bias (K) (CPU f32 or f64) of residual layer `layer_index`; the values depend
// only on (seed, name_prefix + ".phi") for phi and on (layer_index, init) for alpha and bias.
void mhc_init_parameters(Tensor phi, Tensor alpha, Tensor bias, int layer_index, const MhcInit& init,
                         std::uint64_t seed, const std::string& name_prefix);

}  // namespace mhc::ops
