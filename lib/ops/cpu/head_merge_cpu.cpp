// CPU stream merges: the plain sum, and the gate whose weights come from the shared RMS-reordered projection.
#include "ops/cpu/head_merge_cpu.hpp"

#include <vector>

#include "ops/cpu/rms_projection_cpu.hpp"

namespace mhc::ops::cpu {

namespace {

RmsProjectionDims projection_dims(HeadMergeDims d) { return RmsProjectionDims{d.N, d.n * d.C, d.n}; }

}  // namespace

template <typename T>
void stream_sum_forward(T* y, const T* x, HeadMergeDims d) {
  for (std::int64_t t = 0; t < d.N; ++t) {
    T* yt = y + t * d.C;
    const T* xt = x + t * d.n * d.C;
    for (std::int64_t c = 0; c < d.C; ++c) yt[c] = xt[c];
    for (std::int64_t i = 1; i < d.n; ++i)
      for (std::int64_t c = 0; c < d.C; ++c) yt[c] += xt[i * d.C + c];
  }
}

template <typename T>
void stream_sum_backward(T* dx, const T* dy, HeadMergeDims d) {
  for (std::int64_t t = 0; t < d.N; ++t)
    for (std::int64_t i = 0; i < d.n; ++i)
      for (std::int64_t c = 0; c < d.C; ++c) dx[(t * d.n + i) * d.C + c] = dy[t * d.C + c];
}

template <typename T>
void head_merge_gate_forward(T* y, T* w, T* proj, T* rstd, const T* x, const T* phi, const T* alpha, const T* bias,
                             HeadMergeDims d, T rms_eps, T weight_eps) {
  const std::int64_t n = d.n, C = d.C;
  rms_projection_forward<T>(proj, rstd, x, phi, projection_dims(d), rms_eps);
  for (std::int64_t t = 0; t < d.N; ++t) {
    T* wt = w + t * n;
    for (std::int64_t i = 0; i < n; ++i) wt[i] = sigmoid(alpha[0] * (proj[t * n + i] * rstd[t]) + bias[i]) + weight_eps;
    T* yt = y + t * C;
    const T* xt = x + t * n * C;
    for (std::int64_t c = 0; c < C; ++c) yt[c] = wt[0] * xt[c];
    for (std::int64_t i = 1; i < n; ++i)
      for (std::int64_t c = 0; c < C; ++c) yt[c] += wt[i] * xt[i * C + c];
  }
}

template <typename T>
void head_merge_gate_backward_input(T* dx, T* dlogit, const T* dy, const T* x, const T* phi, const T* alpha, const T* w,
                                    const T* proj, const T* rstd, HeadMergeDims d, T weight_eps) {
  const std::int64_t n = d.n, C = d.C;
  for (std::int64_t t = 0; t < d.N; ++t) {
    const T* dyt = dy + t * C;
    for (std::int64_t i = 0; i < n; ++i) {
      const T* xi = x + (t * n + i) * C;
      T* dxi = dx + (t * n + i) * C;
      const T wi = w[t * n + i];
      T dw = 0;  // dL/dw_i = <dy, x[i]>
      for (std::int64_t c = 0; c < C; ++c) {
        dw += dyt[c] * xi[c];
        dxi[c] = wi * dyt[c];
      }
      const T s = wi - weight_eps;  // the sigmoid itself: sigmoid' = s (1 - s)
      dlogit[t * n + i] = dw * s * (T(1) - s);
    }
  }
  const std::vector<T> scale(static_cast<std::size_t>(n), alpha[0]);
  rms_projection_backward_input<T>(dx, dlogit, scale.data(), x, phi, proj, rstd, projection_dims(d));
}

template <typename T>
void head_merge_gate_backward_weight(T* dphi, T* dalpha, T* dbias, const T* dlogit, const T* x, const T* proj,
                                     const T* rstd, const T* alpha, HeadMergeDims d) {
  const std::int64_t n = d.n;
  const std::vector<T> scale(static_cast<std::size_t>(n), alpha[0]);
  rms_projection_backward_weight<T>(dphi, dlogit, scale.data(), x, rstd, projection_dims(d));
  std::vector<T> bias_sum(static_cast<std::size_t>(n), T(0));
  T alpha_sum = 0;
  for (std::int64_t t = 0; t < d.N; ++t) {
    for (std::int64_t i = 0; i < n; ++i) {
      const T g = dlogit[t * n + i];
      alpha_sum += g * (proj[t * n + i] * rstd[t]);
      bias_sum[static_cast<std::size_t>(i)] += g;
    }
  }
  dalpha[0] += alpha_sum;
  for (std::int64_t i = 0; i < n; ++i) dbias[i] += bias_sum[static_cast<std::size_t>(i)];
}

#define MHC_INSTANTIATE(T)                                                                                            \
  template void stream_sum_forward<T>(T*, const T*, HeadMergeDims);                                                   \
  template void stream_sum_backward<T>(T*, const T*, HeadMergeDims);                                                  \
  template void head_merge_gate_forward<T>(T*, T*, T*, T*, const T*, const T*, const T*, const T*, HeadMergeDims, T,  \
                                           T);                                                                        \
  template void head_merge_gate_backward_input<T>(T*, T*, const T*, const T*, const T*, const T*, const T*, const T*, \
                                                  const T*, HeadMergeDims, T);                                        \
  template void head_merge_gate_backward_weight<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*,      \
                                                   HeadMergeDims);
MHC_INSTANTIATE(float)
MHC_INSTANTIATE(double)
#undef MHC_INSTANTIATE

}  // namespace mhc::ops::cpu
