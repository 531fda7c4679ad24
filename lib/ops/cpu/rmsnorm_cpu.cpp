// CPU RMSNorm: forward, input gradient and weight gradient.
#include "ops/cpu/rmsnorm_cpu.hpp"

#include <cmath>
#include <vector>

namespace mhc::ops::cpu {

template <typename T>
void rmsnorm_forward(T* out, T* rstd, const T* x, const T* w, std::int64_t N, std::int64_t C, double eps) {
#pragma omp parallel for schedule(static) if (N * C >= (1 << 16))
  for (std::int64_t n = 0; n < N; ++n) {
    const T* xr = x + n * C;
    double sq = 0;
    for (std::int64_t c = 0; c < C; ++c) sq += static_cast<double>(xr[c]) * xr[c];
    const T r = static_cast<T>(1.0 / std::sqrt(sq / static_cast<double>(C) + eps));
    rstd[n] = r;
    T* o = out + n * C;
    for (std::int64_t c = 0; c < C; ++c) o[c] = xr[c] * r * w[c];
  }
}

template <typename T>
void rmsnorm_backward_input(T* dx, const T* dout, const T* x, const T* w, const T* rstd, std::int64_t N,
                            std::int64_t C) {
#pragma omp parallel for schedule(static) if (N * C >= (1 << 16))
  for (std::int64_t n = 0; n < N; ++n) {
    const T* xr = x + n * C;
    const T* g = dout + n * C;
    double dot = 0;  // sum_c dout * w * x
    for (std::int64_t c = 0; c < C; ++c) dot += static_cast<double>(g[c]) * w[c] * xr[c];
    const double r = rstd[n];
    const double coef = r * r * r * dot / static_cast<double>(C);
    T* d = dx + n * C;
    for (std::int64_t c = 0; c < C; ++c) d[c] = static_cast<T>(r * w[c] * g[c] - coef * xr[c]);
  }
}

template <typename T>
void rmsnorm_backward_weight(T* dw, const T* dout, const T* x, const T* rstd, std::int64_t N, std::int64_t C) {
  std::vector<double> acc(static_cast<std::size_t>(C), 0.0);
  for (std::int64_t n = 0; n < N; ++n) {
    const T* xr = x + n * C;
    const T* g = dout + n * C;
    const double r = rstd[n];
    for (std::int64_t c = 0; c < C; ++c) acc[static_cast<std::size_t>(c)] += static_cast<double>(g[c]) * xr[c] * r;
  }
  for (std::int64_t c = 0; c < C; ++c) dw[c] += static_cast<T>(acc[static_cast<std::size_t>(c)]);
}

template void rmsnorm_forward<float>(float*, float*, const float*, const float*, std::int64_t, std::int64_t, double);
template void rmsnorm_forward<double>(double*, double*, const double*, const double*, std::int64_t, std::int64_t,
                                      double);
template void rmsnorm_backward_input<float>(float*, const float*, const float*, const float*, const float*,
                                            std::int64_t, std::int64_t);
template void rmsnorm_backward_input<double>(double*, const double*, const double*, const double*, const double*,
                                             std::int64_t, std::int64_t);
template void rmsnorm_backward_weight<float>(float*, const float*, const float*, const float*, std::int64_t,
                                             std::int64_t);
template void rmsnorm_backward_weight<double>(double*, const double*, const double*, const double*, std::int64_t,
                                              std::int64_t);

}  // namespace mhc::ops::cpu
