// CPU RMS-reordered projection: one GEMM for v phi, per-row rstd, and the backward through both.
#include "ops/cpu/rms_projection_cpu.hpp"

#include <vector>

#include "ops/cpu/matmul_cpu.hpp"

namespace mhc::ops::cpu {

namespace {

// dproj (rows, K) = scale * da * rstd: the gradient w.r.t. proj, needed by both B (dv) and W (dphi).
template <typename T>
std::vector<T> projection_gradient(const T* da, const T* scale, const T* rstd, RmsProjectionDims d) {
  std::vector<T> dproj(static_cast<std::size_t>(d.rows * d.K));
  for (std::int64_t t = 0; t < d.rows; ++t)
    for (std::int64_t k = 0; k < d.K; ++k)
      dproj[static_cast<std::size_t>(t * d.K + k)] = scale[k] * da[t * d.K + k] * rstd[t];
  return dproj;
}

}  // namespace

template <typename T>
void rms_projection_forward(T* proj, T* rstd, const T* v, const T* phi, RmsProjectionDims d, T eps) {
  gemm<T>(false, false, d.rows, d.K, d.D, T(1), v, d.D, phi, d.K, T(0), proj, d.K);
  for (std::int64_t t = 0; t < d.rows; ++t) {
    const T* row = v + t * d.D;
    T sum_sq = 0;
    for (std::int64_t c = 0; c < d.D; ++c) sum_sq += row[c] * row[c];
    rstd[t] = T(1) / std::sqrt(sum_sq / static_cast<T>(d.D) + eps);
  }
}

template <typename T>
void rms_projection_backward_input(T* dv, const T* da, const T* scale, const T* v, const T* phi, const T* proj,
                                   const T* rstd, RmsProjectionDims d) {
  const std::vector<T> dproj = projection_gradient(da, scale, rstd, d);
  gemm<T>(false, true, d.rows, d.D, d.K, T(1), dproj.data(), d.K, phi, d.K, T(1), dv, d.D);
  // Through rstd = (mean(v^2) + eps)^(-1/2): d rstd / dv = -rstd^3 v / D; d(rstd) = sum_k dz_k proj_k.
  for (std::int64_t t = 0; t < d.rows; ++t) {
    T drstd = 0;
    for (std::int64_t k = 0; k < d.K; ++k) drstd += scale[k] * da[t * d.K + k] * proj[t * d.K + k];
    const T s = rstd[t];
    const T coef = -drstd * s * s * s / static_cast<T>(d.D);
    for (std::int64_t c = 0; c < d.D; ++c) dv[t * d.D + c] += coef * v[t * d.D + c];
  }
}

template <typename T>
void rms_projection_backward_weight(T* dphi, const T* da, const T* scale, const T* v, const T* rstd,
                                    RmsProjectionDims d) {
  const std::vector<T> dproj = projection_gradient(da, scale, rstd, d);
  gemm<T>(true, false, d.D, d.K, d.rows, T(1), v, d.D, dproj.data(), d.K, T(1), dphi, d.K);
}

#define MHC_INSTANTIATE(T)                                                                                       \
  template void rms_projection_forward<T>(T*, T*, const T*, const T*, RmsProjectionDims, T);                     \
  template void rms_projection_backward_input<T>(T*, const T*, const T*, const T*, const T*, const T*, const T*, \
                                                 RmsProjectionDims);                                             \
  template void rms_projection_backward_weight<T>(T*, const T*, const T*, const T*, const T*, RmsProjectionDims);
MHC_INSTANTIATE(float)
MHC_INSTANTIATE(double)
#undef MHC_INSTANTIATE

}  // namespace mhc::ops::cpu
