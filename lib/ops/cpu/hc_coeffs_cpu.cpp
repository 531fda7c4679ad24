// CPU dynamic Hyper-Connections coefficients: one GEMM for xb_i w, tanh gates with static offsets, hand backward.
#include "ops/cpu/hc_coeffs_cpu.hpp"

#include <cmath>
#include <vector>

#include "ops/cpu/matmul_cpu.hpp"

namespace mhc::ops::cpu {

template <typename T>
void hc_coeffs_forward(T* h_pre, T* h_post, T* h_res, T* proj, const T* xb, const T* w, const T* s, const T* am,
                       const T* ar, const T* bb, HcDims d) {
  const std::int64_t n = d.n, P = d.P();
  gemm<T>(false, false, d.N * n, P, d.C, T(1), xb, d.C, w, P, T(0), proj, P);
  for (std::int64_t t = 0; t < d.N; ++t) {
    for (std::int64_t i = 0; i < n; ++i) {
      const T* p = proj + (t * n + i) * P;
      h_pre[t * n + i] = s[0] * std::tanh(p[0]) + am[i];
      for (std::int64_t j = 0; j < n; ++j) h_res[(t * n + j) * n + i] = s[0] * std::tanh(p[1 + j]) + ar[i * n + j];
      h_post[t * n + i] = s[1] * std::tanh(p[n + 1]) + bb[i];
    }
  }
}

template <typename T>
void hc_coeffs_backward_input(T* dxb, T* dproj, const T* dh_pre, const T* dh_post, const T* dh_res, const T* proj,
                              const T* w, const T* s, HcDims d) {
  const std::int64_t n = d.n, P = d.P();
  for (std::int64_t t = 0; t < d.N; ++t) {
    for (std::int64_t i = 0; i < n; ++i) {
      const T* p = proj + (t * n + i) * P;
      T* g = dproj + (t * n + i) * P;
      const auto slope = [&](std::int64_t c) {  // d tanh / d proj
        const T th = std::tanh(p[c]);
        return T(1) - th * th;
      };
      g[0] = dh_pre[t * n + i] * s[0] * slope(0);
      for (std::int64_t j = 0; j < n; ++j) g[1 + j] = dh_res[(t * n + j) * n + i] * s[0] * slope(1 + j);
      g[n + 1] = dh_post[t * n + i] * s[1] * slope(n + 1);
    }
  }
  gemm<T>(false, true, d.N * n, d.C, P, T(1), dproj, P, w, P, T(0), dxb, d.C);
}

template <typename T>
void hc_coeffs_backward_weight(T* dw, T* ds, T* dam, T* dar, T* dbb, const T* dproj, const T* dh_pre, const T* dh_post,
                               const T* dh_res, const T* xb, const T* proj, HcDims d) {
  const std::int64_t n = d.n, P = d.P();
  gemm<T>(true, false, d.C, P, d.N * n, T(1), xb, d.C, dproj, P, T(1), dw, P);
  T sa = 0, sb = 0;
  std::vector<T> am_sum(static_cast<std::size_t>(n), T(0)), bb_sum(static_cast<std::size_t>(n), T(0));
  std::vector<T> ar_sum(static_cast<std::size_t>(n * n), T(0));
  for (std::int64_t t = 0; t < d.N; ++t) {
    for (std::int64_t i = 0; i < n; ++i) {
      const T* p = proj + (t * n + i) * P;
      const T gm = dh_pre[t * n + i], gb = dh_post[t * n + i];
      sa += gm * std::tanh(p[0]);
      am_sum[static_cast<std::size_t>(i)] += gm;
      for (std::int64_t j = 0; j < n; ++j) {
        const T gr = dh_res[(t * n + j) * n + i];  // gradient of A_r[i, j] = h_res[j, i]
        sa += gr * std::tanh(p[1 + j]);
        ar_sum[static_cast<std::size_t>(i * n + j)] += gr;
      }
      sb += gb * std::tanh(p[n + 1]);
      bb_sum[static_cast<std::size_t>(i)] += gb;
    }
  }
  ds[0] += sa;
  ds[1] += sb;
  for (std::int64_t i = 0; i < n; ++i) {
    dam[i] += am_sum[static_cast<std::size_t>(i)];
    dbb[i] += bb_sum[static_cast<std::size_t>(i)];
    for (std::int64_t j = 0; j < n; ++j) dar[i * n + j] += ar_sum[static_cast<std::size_t>(i * n + j)];
  }
}

#define MHC_INSTANTIATE(T)                                                                                         \
  template void hc_coeffs_forward<T>(T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*, const T*,   \
                                     HcDims);                                                                      \
  template void hc_coeffs_backward_input<T>(T*, T*, const T*, const T*, const T*, const T*, const T*, const T*,    \
                                            HcDims);                                                               \
  template void hc_coeffs_backward_weight<T>(T*, T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*, \
                                             const T*, HcDims);
MHC_INSTANTIATE(float)
MHC_INSTANTIATE(double)
#undef MHC_INSTANTIATE

}  // namespace mhc::ops::cpu
