// CPU mHC coefficients: one GEMM for vec(x) phi, per-token RMS scaling and gates, and the hand-written backward.
#include "ops/cpu/mhc_coeffs_cpu.hpp"

#include <cmath>
#include <vector>

#include "ops/cpu/matmul_cpu.hpp"

namespace mhc::ops::cpu {

namespace {

template <typename T>
T sigmoid(T v) {
  if (v >= T(0)) return T(1) / (T(1) + std::exp(-v));
  const T e = std::exp(v);
  return e / (T(1) + e);
}

// Which alpha scales column k: 0 (pre) for k < n, 1 (post) for k < 2n, 2 (res) after.
inline int alpha_block(std::int64_t k, std::int64_t n) { return k < n ? 0 : (k < 2 * n ? 1 : 2); }

// dproj (N, K) = alpha_blk * dtilde * rstd: the gradient w.r.t. proj, needed by both B (dx) and W (dphi).
template <typename T>
std::vector<T> projection_gradient(const T* dtilde, const T* rstd, const T* alpha, MhcDims d) {
  const std::int64_t K = d.K();
  std::vector<T> dproj(static_cast<std::size_t>(d.N * K));
  for (std::int64_t t = 0; t < d.N; ++t)
    for (std::int64_t k = 0; k < K; ++k)
      dproj[static_cast<std::size_t>(t * K + k)] = alpha[alpha_block(k, d.n)] * dtilde[t * K + k] * rstd[t];
  return dproj;
}

}  // namespace

template <typename T>
void mhc_coeffs_forward(T* h_pre, T* h_post, T* res_logits, T* proj, T* rstd, const T* x, const T* phi, const T* alpha,
                        const T* bias, MhcDims d, T eps) {
  const std::int64_t n = d.n, nC = d.n * d.C, K = d.K();
  gemm<T>(false, false, d.N, K, nC, T(1), x, nC, phi, K, T(0), proj, K);
  for (std::int64_t t = 0; t < d.N; ++t) {
    const T* v = x + t * nC;
    T sum_sq = 0;
    for (std::int64_t c = 0; c < nC; ++c) sum_sq += v[c] * v[c];
    const T s = T(1) / std::sqrt(sum_sq / static_cast<T>(nC) + eps);
    rstd[t] = s;
    const T* p = proj + t * K;  // z_k = p_k * s
    for (std::int64_t i = 0; i < n; ++i) {
      h_pre[t * n + i] = sigmoid(alpha[0] * (p[i] * s) + bias[i]);
      h_post[t * n + i] = T(2) * sigmoid(alpha[1] * (p[n + i] * s) + bias[n + i]);
    }
    for (std::int64_t k = 2 * n; k < K; ++k) res_logits[t * n * n + (k - 2 * n)] = alpha[2] * (p[k] * s) + bias[k];
  }
}

template <typename T>
void mhc_coeffs_backward_input(T* dx, T* dtilde, const T* dh_pre, const T* dh_post, const T* dres_logits, const T* x,
                               const T* phi, const T* alpha, const T* h_pre, const T* h_post, const T* proj,
                               const T* rstd, MhcDims d) {
  const std::int64_t n = d.n, nC = d.n * d.C, K = d.K();
  // Through the gates: sigmoid' = h (1 - h); for h_post = 2 sigmoid, dh_post/dtilde = h_post (1 - h_post / 2).
  for (std::int64_t t = 0; t < d.N; ++t) {
    T* dt = dtilde + t * K;
    for (std::int64_t i = 0; i < n; ++i) {
      const T hp = h_pre[t * n + i], hq = h_post[t * n + i];
      dt[i] = dh_pre[t * n + i] * hp * (T(1) - hp);
      dt[n + i] = dh_post[t * n + i] * hq * (T(1) - hq / T(2));
    }
    for (std::int64_t k = 2 * n; k < K; ++k) dt[k] = dres_logits[t * n * n + (k - 2 * n)];
  }
  const std::vector<T> dproj = projection_gradient(dtilde, rstd, alpha, d);
  gemm<T>(false, true, d.N, nC, K, T(1), dproj.data(), K, phi, K, T(1), dx, nC);
  // Through rstd = (mean(x^2) + eps)^(-1/2): d rstd / dx = -rstd^3 x / (nC); d(rstd) = sum_k dz_k proj_k.
  for (std::int64_t t = 0; t < d.N; ++t) {
    T drstd = 0;
    for (std::int64_t k = 0; k < K; ++k) drstd += alpha[alpha_block(k, n)] * dtilde[t * K + k] * proj[t * K + k];
    const T s = rstd[t];
    const T coef = -drstd * s * s * s / static_cast<T>(nC);
    for (std::int64_t c = 0; c < nC; ++c) dx[t * nC + c] += coef * x[t * nC + c];
  }
}

template <typename T>
void mhc_coeffs_backward_weight(T* dphi, T* dalpha, T* dbias, const T* dtilde, const T* x, const T* proj, const T* rstd,
                                const T* alpha, MhcDims d) {
  const std::int64_t nC = d.n * d.C, K = d.K();
  const std::vector<T> dproj = projection_gradient(dtilde, rstd, alpha, d);
  gemm<T>(true, false, nC, K, d.N, T(1), x, nC, dproj.data(), K, T(1), dphi, K);
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
  template void mhc_coeffs_backward_input<T>(T*, T*, const T*, const T*, const T*, const T*, const T*, const T*, \
                                             const T*, const T*, const T*, const T*, MhcDims);                   \
  template void mhc_coeffs_backward_weight<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*, MhcDims);
MHC_INSTANTIATE(float)
MHC_INSTANTIATE(double)
#undef MHC_INSTANTIATE

}  // namespace mhc::ops::cpu
