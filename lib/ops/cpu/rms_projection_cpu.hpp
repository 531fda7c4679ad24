// CPU "RMS-reordered" projection z = (v phi) * rstd of row vectors v (shared by mHC coefficients and head merge).
#pragma once

#include <cmath>
#include <cstdint>

#include "ops/cpu/simd.hpp"

namespace mhc::ops::cpu {

// Extents: `rows` row vectors v of length D (a token's vec(x), D = n*C) projected onto K columns.
struct RmsProjectionDims {
  std::int64_t rows, D, K;
};

// Overflow-free logistic function for either sign of v (the gates of the connection coefficients).
template <typename T>
T sigmoid(T v) {
  if (v >= T(0)) return T(1) / (T(1) + std::exp(-v));
  const T e = std::exp(v);
  return e / (T(1) + e);
}

// One row's rstd = 1 / sqrt(mean(v^2) + eps) (v (D)), summed as simd::lane_dot sums.
template <typename T>
MHC_INLINE T rms_projection_rstd_row(const T* v, std::int64_t D, T eps) {
  return T(1) / std::sqrt(simd::lane_dot(v, v, D) / static_cast<T>(D) + eps);
}

// One row of the projection gradient: dproj (K) = scale * da * rstd, the gradient w.r.t. proj of the
// pre-activations a = scale * proj * rstd + bias (da (K): their gradient).
template <typename T>
inline void rms_projection_gradient_row(T* dproj, const T* da, const T* scale, T rstd, std::int64_t K) {
  for (std::int64_t k = 0; k < K; ++k) dproj[k] = scale[k] * da[k] * rstd;
}

// One row's coefficient of v in dv, through rstd = (mean(v^2) + eps)^(-1/2): d rstd / dv = -rstd^3 v / D with
// d(rstd) = sum_k scale_k da_k proj_k.
template <typename T>
inline T rms_projection_v_coefficient(const T* da, const T* scale, const T* proj, T rstd, std::int64_t D,
                                      std::int64_t K) {
  T drstd = 0;
  for (std::int64_t k = 0; k < K; ++k) drstd += scale[k] * da[k] * proj[k];
  return -drstd * rstd * rstd * rstd / static_cast<T>(D);
}

// proj (rows, K) = v phi (one GEMM; v (rows, D), phi (D, K)); rstd (rows) = 1 / sqrt(mean(v^2) + eps).
// The caller forms the pre-activations a_k = scale_k * proj_k * rstd + bias_k. Both outputs are overwritten.
template <typename T>
void rms_projection_forward(T* proj, T* rstd, const T* v, const T* phi, RmsProjectionDims d, T eps);

// Given da (rows, K), the gradient w.r.t. the pre-activations a = scale * z + bias with z = proj * rstd and a
// per-column scale (K):
//   dv += dproj phi^T - (sum_k scale_k da_k proj_k) rstd^3 / D * v,  dproj = scale * da * rstd   (dv accumulates).
template <typename T>
void rms_projection_backward_input(T* dv, const T* da, const T* scale, const T* v, const T* phi, const T* proj,
                                   const T* rstd, RmsProjectionDims d);

// The same gradient in two parts, for a caller that folds the v term into a pass of its own: dv (rows, D) =
// dproj phi^T (overwritten) and v_coef (rows) = -(sum_k scale_k da_k proj_k) rstd^3 / D, the coefficient of v.
template <typename T>
void rms_projection_backward_input_parts(T* dv, T* v_coef, const T* da, const T* scale, const T* phi, const T* proj,
                                         const T* rstd, RmsProjectionDims d);

// dphi (D, K) += v^T dproj with dproj = scale * da * rstd as above (accumulates). The scale and bias gradients,
// which depend on how the caller ties its scales, stay with the caller.
template <typename T>
void rms_projection_backward_weight(T* dphi, const T* da, const T* scale, const T* v, const T* rstd,
                                    RmsProjectionDims d);

}  // namespace mhc::ops::cpu
