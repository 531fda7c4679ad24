// The mHC coefficient projection on the GPU (spec 2.3, "RMSNorm reordering"), fp32: proj = vec(x) phi fused with the
// sum of squares of vec(x), and its backward; the CPU oracles are ops::cpu::rms_projection_* with the per-column
// scale alpha_blk(k) of ops::cpu::mhc_coeffs_*.
//
// Shapes: N tokens, n streams (1..8), C hidden size, D = n C, K = n^2 + 2n; x (N, D) row-major (= (N, n, C)),
// phi (D, K), proj (N, K), rstd (N), dtilde (N, K), alpha (3) = (pre, post, res); column k is scaled by alpha[0]
// for k < n, alpha[1] for k < 2n, alpha[2] after. All launchers are asynchronous on `stream` and throw DeviceError
// for a failed launch. Deterministic: fixed summation orders, no atomics.
#pragma once

#include <cstdint>

#include "core/stream.hpp"

namespace mhc::kernels {

// proj (N, K) = x phi and rstd (N) = 1 / sqrt(sum(x^2) / D + eps), both overwritten; x is read once (each block
// stages a tile of tokens and a chunk of phi in shared memory and accumulates the products and the squares together).
void launch_mhc_projection_forward(float* proj, float* rstd, const float* x, const float* phi, std::int64_t N, int n,
                                   std::int64_t C, float eps, StreamHandle stream);

// dx (N, D) = dproj phi^T with dproj = scale * dtilde * rstd, and x_coef (N) = -(sum_k scale_k dtilde_k proj_k)
// rstd^3 / D, the coefficient of x in the RMS term (both overwritten; the caller adds x_coef * x). phi stays in
// registers, one column range of D per block.
void launch_mhc_projection_backward_input(float* dx, float* x_coef, const float* dtilde, const float* proj,
                                          const float* rstd, const float* alpha, const float* phi, std::int64_t N,
                                          int n, std::int64_t C, StreamHandle stream);

// dphi (D, K) += x^T dproj; dbias (K) += sum_t dtilde; dalpha[b] += sum over t and the columns k of block b of
// dtilde * proj * rstd (all accumulate). Two passes: blocks over (column range of D, token slice) write partial sums
// to stream-ordered scratch (cudaMallocAsync), then one kernel adds the slices in ascending order. The slicing
// depends only on N and D, so the result bits do not depend on the GPU.
void launch_mhc_projection_backward_weight(float* dphi, float* dalpha, float* dbias, const float* dtilde,
                                           const float* x, const float* proj, const float* rstd, const float* alpha,
                                           std::int64_t N, int n, std::int64_t C, StreamHandle stream);

}  // namespace mhc::kernels
