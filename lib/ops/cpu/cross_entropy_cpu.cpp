// CPU fused softmax cross-entropy: max-shifted log-sum-exp in double, gradient softmax - onehot.
#include "ops/cpu/cross_entropy_cpu.hpp"

#include <cmath>
#include <limits>

namespace mhc::ops::cpu {

template <typename T>
void softmax_xent_forward(T* loss, T* lse, const T* logits, const std::int32_t* targets, std::int64_t N,
                          std::int64_t V) {
#pragma omp parallel for schedule(static) if (N * V >= (1 << 16))
  for (std::int64_t n = 0; n < N; ++n) {
    const T* l = logits + n * V;
    double m = -std::numeric_limits<double>::infinity();
    for (std::int64_t j = 0; j < V; ++j) m = std::fmax(m, static_cast<double>(l[j]));
    double sum = 0;
    for (std::int64_t j = 0; j < V; ++j) sum += std::exp(l[j] - m);
    const double row_lse = m + std::log(sum);
    lse[n] = static_cast<T>(row_lse);
    loss[n] = targets[n] < 0 ? T(0) : static_cast<T>(row_lse - l[targets[n]]);
  }
}

template <typename T>
void softmax_xent_backward(T* dlogits, const T* logits, const T* lse, const std::int32_t* targets, std::int64_t N,
                           std::int64_t V, double grad_scale) {
#pragma omp parallel for schedule(static) if (N * V >= (1 << 16))
  for (std::int64_t n = 0; n < N; ++n) {
    const T* l = logits + n * V;
    T* d = dlogits + n * V;
    const std::int64_t target = targets[n];
    if (target < 0) {
      for (std::int64_t j = 0; j < V; ++j) d[j] = T(0);
      continue;
    }
    const double row_lse = lse[n];
    for (std::int64_t j = 0; j < V; ++j) {
      const double p = std::exp(l[j] - row_lse);
      d[j] = static_cast<T>(grad_scale * (j == target ? p - 1.0 : p));
    }
  }
}

template void softmax_xent_forward<float>(float*, float*, const float*, const std::int32_t*, std::int64_t,
                                          std::int64_t);
template void softmax_xent_forward<double>(double*, double*, const double*, const std::int32_t*, std::int64_t,
                                           std::int64_t);
template void softmax_xent_backward<float>(float*, const float*, const float*, const std::int32_t*, std::int64_t,
                                           std::int64_t, double);
template void softmax_xent_backward<double>(double*, const double*, const double*, const std::int32_t*, std::int64_t,
                                            std::int64_t, double);

}  // namespace mhc::ops::cpu
