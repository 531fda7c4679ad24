// CPU RMS-reordered projection: v phi through the GEMM library and per-row rstd, and the backward.
#include "ops/cpu/rms_projection_cpu.hpp"

#include <cstdint>
#include <vector>

#include "ops/cpu/matmul_cpu.hpp"
#include "ops/cpu/parallel_for.hpp"
#include "ops/cpu/simd.hpp"

namespace mhc::ops::cpu {

namespace {

// dproj (rows, K) = scale * da * rstd: the gradient w.r.t. proj, needed by both B (dv) and W (dphi).
template <typename T>
std::vector<T> projection_gradient(const T* da, const T* scale, const T* rstd, RmsProjectionDims d) {
  std::vector<T> dproj(static_cast<std::size_t>(d.rows * d.K));
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < d.rows; ++t)
    rms_projection_gradient_row(dproj.data() + t * d.K, da + t * d.K, scale, rstd[t], d.K);
  return dproj;
}

// Row t's coefficient of v in dv.
template <typename T>
T rstd_coefficient(const T* da, const T* scale, const T* proj, const T* rstd, std::int64_t t, RmsProjectionDims d) {
  return rms_projection_v_coefficient(da + t * d.K, scale, proj + t * d.K, rstd[t], d.D, d.K);
}

}  // namespace

// The product through the GEMM library (it runs the skinny (rows, D) x (D, K) product about twice as fast as a
// register-blocked loop of ours), then one parallel pass for the sums of squares.
template <typename T>
void rms_projection_forward(T* proj, T* rstd, const T* v, const T* phi, RmsProjectionDims d, T eps) {
  gemm<T>(false, false, d.rows, d.K, d.D, T(1), v, d.D, phi, d.K, T(0), proj, d.K);
  parallel_for_blocks(d.rows, 16, [&](std::int64_t t) __attribute__((always_inline)) {
    rstd[t] = rms_projection_rstd_row(v + t * d.D, d.D, eps);
  });
}

template <typename T>
void rms_projection_backward_input(T* dv, const T* da, const T* scale, const T* v, const T* phi, const T* proj,
                                   const T* rstd, RmsProjectionDims d) {
  const std::vector<T> dproj = projection_gradient(da, scale, rstd, d);
  gemm<T>(false, true, d.rows, d.D, d.K, T(1), dproj.data(), d.K, phi, d.K, T(1), dv, d.D);
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < d.rows; ++t) {
    const T coef = rstd_coefficient(da, scale, proj, rstd, t, d);
    for (std::int64_t c = 0; c < d.D; ++c) dv[t * d.D + c] += coef * v[t * d.D + c];
  }
}

template <typename T>
void rms_projection_backward_input_parts(T* dv, T* v_coef, const T* da, const T* scale, const T* phi, const T* proj,
                                         const T* rstd, RmsProjectionDims d) {
  const std::vector<T> dproj = projection_gradient(da, scale, rstd, d);
  gemm<T>(false, true, d.rows, d.D, d.K, T(1), dproj.data(), d.K, phi, d.K, T(0), dv, d.D);
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < d.rows; ++t) v_coef[t] = rstd_coefficient(da, scale, proj, rstd, t, d);
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
  template void rms_projection_backward_input_parts<T>(T*, T*, const T*, const T*, const T*, const T*, const T*,  \
                                                       RmsProjectionDims);                                       \
  template void rms_projection_backward_weight<T>(T*, const T*, const T*, const T*, const T*, RmsProjectionDims);
MHC_INSTANTIATE(float)
MHC_INSTANTIATE(double)
#undef MHC_INSTANTIATE

}  // namespace mhc::ops::cpu
