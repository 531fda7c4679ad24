// CPU mHC coefficients: the shared RMS-reordered projection of vec(x), the gates, and the hand-written backward.
#include "ops/cpu/mhc_coeffs_cpu.hpp"

#include <vector>

#include "ops/cpu/rms_projection_cpu.hpp"

namespace mhc::ops::cpu {

namespace {

RmsProjectionDims projection_dims(MhcDims d) { return RmsProjectionDims{d.N, d.n * d.C, d.K()}; }

}  // namespace

template <typename T>
void mhc_coeffs_forward(T* h_pre, T* h_post, T* res_logits, T* proj, T* rstd, const T* x, const T* phi, const T* alpha,
                        const T* bias, MhcDims d, T eps) {
  const std::int64_t n = d.n, K = d.K();
  rms_projection_forward<T>(proj, rstd, x, phi, projection_dims(d), eps);
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < d.N; ++t)
    mhc_gates_forward_token(h_pre + t * n, h_post + t * n, res_logits + t * n * n, proj + t * K, rstd[t], alpha, bias,
                            n);
}

template <typename T>
void mhc_coeffs_backward_input(T* dx, T* x_coef, T* dtilde, const T* dh_pre, const T* dh_post, const T* dres_logits,
                               const T* phi, const T* alpha, const T* h_pre, const T* h_post, const T* proj,
                               const T* rstd, MhcDims d) {
  const std::int64_t n = d.n, K = d.K();
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < d.N; ++t)
    mhc_gates_backward_token(dtilde + t * K, dh_pre + t * n, dh_post + t * n, dres_logits + t * n * n, h_pre + t * n,
                             h_post + t * n, n);
  const std::vector<T> scale = mhc_column_scales(alpha, d);
  rms_projection_backward_input_parts<T>(dx, x_coef, dtilde, scale.data(), phi, proj, rstd, projection_dims(d));
}

template <typename T>
void mhc_coeffs_backward_weight(T* dphi, T* dalpha, T* dbias, const T* dtilde, const T* x, const T* proj, const T* rstd,
                                const T* alpha, MhcDims d) {
  const std::int64_t K = d.K();
  const std::vector<T> scale = mhc_column_scales(alpha, d);
  rms_projection_backward_weight<T>(dphi, dtilde, scale.data(), x, rstd, projection_dims(d));
  std::vector<T> bias_sum(static_cast<std::size_t>(K), T(0));
  T alpha_sum[3] = {T(0), T(0), T(0)};
  for (std::int64_t t = 0; t < d.N; ++t) {
    for (std::int64_t k = 0; k < K; ++k) {
      const T g = dtilde[t * K + k];
      alpha_sum[mhc_alpha_block(k, d.n)] += g * (proj[t * K + k] * rstd[t]);
      bias_sum[static_cast<std::size_t>(k)] += g;
    }
  }
  for (int b = 0; b < 3; ++b) dalpha[b] += alpha_sum[b];
  for (std::int64_t k = 0; k < K; ++k) dbias[k] += bias_sum[static_cast<std::size_t>(k)];
}

#define MHC_INSTANTIATE(T)                                                                                       \
  template void mhc_coeffs_forward<T>(T*, T*, T*, T*, T*, const T*, const T*, const T*, const T*, MhcDims, T);   \
  template void mhc_coeffs_backward_input<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*,      \
                                             const T*, const T*, const T*, const T*, MhcDims);                   \
  template void mhc_coeffs_backward_weight<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*, MhcDims);
MHC_INSTANTIATE(float)
MHC_INSTANTIATE(double)
#undef MHC_INSTANTIATE

}  // namespace mhc::ops::cpu
