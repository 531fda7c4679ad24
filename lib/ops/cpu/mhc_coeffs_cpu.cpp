// CPU mHC coefficients: the shared RMS-reordered projection of vec(x), the gates, and the hand-written backward.
#include "ops/cpu/mhc_coeffs_cpu.hpp"

#include <vector>

#include "ops/cpu/rms_projection_cpu.hpp"

namespace mhc::ops::cpu {

namespace {

// Which alpha scales column k: 0 (pre) for k < n, 1 (post) for k < 2n, 2 (res) after.
inline int alpha_block(std::int64_t k, std::int64_t n) { return k < n ? 0 : (k < 2 * n ? 1 : 2); }

// alpha expanded to one scale per column (K): the per-column scale of the shared RMS projection.
template <typename T>
std::vector<T> column_scales(const T* alpha, MhcDims d) {
  std::vector<T> scale(static_cast<std::size_t>(d.K()));
  for (std::int64_t k = 0; k < d.K(); ++k) scale[static_cast<std::size_t>(k)] = alpha[alpha_block(k, d.n)];
  return scale;
}

RmsProjectionDims projection_dims(MhcDims d) { return RmsProjectionDims{d.N, d.n * d.C, d.K()}; }

}  // namespace

template <typename T>
void mhc_coeffs_forward(T* h_pre, T* h_post, T* res_logits, T* proj, T* rstd, const T* x, const T* phi, const T* alpha,
                        const T* bias, MhcDims d, T eps) {
  const std::int64_t n = d.n, K = d.K();
  rms_projection_forward<T>(proj, rstd, x, phi, projection_dims(d), eps);
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < d.N; ++t) {
    const T s = rstd[t];
    const T* p = proj + t * K;  // z_k = p_k * s
    for (std::int64_t i = 0; i < n; ++i) {
      h_pre[t * n + i] = sigmoid(alpha[0] * (p[i] * s) + bias[i]);
      h_post[t * n + i] = T(2) * sigmoid(alpha[1] * (p[n + i] * s) + bias[n + i]);
    }
    for (std::int64_t k = 2 * n; k < K; ++k) res_logits[t * n * n + (k - 2 * n)] = alpha[2] * (p[k] * s) + bias[k];
  }
}

template <typename T>
void mhc_coeffs_backward_input(T* dx, T* x_coef, T* dtilde, const T* dh_pre, const T* dh_post, const T* dres_logits,
                               const T* phi, const T* alpha, const T* h_pre, const T* h_post, const T* proj,
                               const T* rstd, MhcDims d) {
  const std::int64_t n = d.n, K = d.K();
  // Through the gates: sigmoid' = h (1 - h); for h_post = 2 sigmoid, dh_post/dtilde = h_post (1 - h_post / 2).
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < d.N; ++t) {
    T* dt = dtilde + t * K;
    for (std::int64_t i = 0; i < n; ++i) {
      const T hp = h_pre[t * n + i], hq = h_post[t * n + i];
      dt[i] = dh_pre[t * n + i] * hp * (T(1) - hp);
      dt[n + i] = dh_post[t * n + i] * hq * (T(1) - hq / T(2));
    }
    for (std::int64_t k = 2 * n; k < K; ++k) dt[k] = dres_logits[t * n * n + (k - 2 * n)];
  }
  const std::vector<T> scale = column_scales(alpha, d);
  rms_projection_backward_input_parts<T>(dx, x_coef, dtilde, scale.data(), phi, proj, rstd, projection_dims(d));
}

template <typename T>
void mhc_coeffs_backward_weight(T* dphi, T* dalpha, T* dbias, const T* dtilde, const T* x, const T* proj, const T* rstd,
                                const T* alpha, MhcDims d) {
  const std::int64_t K = d.K();
  const std::vector<T> scale = column_scales(alpha, d);
  rms_projection_backward_weight<T>(dphi, dtilde, scale.data(), x, rstd, projection_dims(d));
  std::vector<T> bias_sum(static_cast<std::size_t>(K), T(0));
  T alpha_sum[3] = {T(0), T(0), T(0)};
  for (std::int64_t t = 0; t < d.N; ++t) {
    for (std::int64_t k = 0; k < K; ++k) {
      const T g = dtilde[t * K + k];
      alpha_sum[alpha_block(k, d.n)] += g * (proj[t * K + k] * rstd[t]);
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
