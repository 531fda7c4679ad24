// CPU SwiGLU: out = silu(gate) * up and its gradients.
#include "ops/cpu/swiglu_cpu.hpp"

#include <cmath>

namespace mhc::ops::cpu {

namespace {

double sigmoid(double g) {
  if (g >= 0) return 1.0 / (1.0 + std::exp(-g));
  const double e = std::exp(g);
  return e / (1.0 + e);
}

}  // namespace

template <typename T>
void swiglu_forward(T* out, const T* gate, const T* up, std::int64_t n) {
#pragma omp parallel for schedule(static) if (n >= (1 << 16))
  for (std::int64_t k = 0; k < n; ++k) {
    const double g = gate[k];
    out[k] = static_cast<T>(g * sigmoid(g) * up[k]);
  }
}

template <typename T>
void swiglu_backward(T* dgate, T* dup, const T* dout, const T* gate, const T* up, std::int64_t n) {
#pragma omp parallel for schedule(static) if (n >= (1 << 16))
  for (std::int64_t k = 0; k < n; ++k) {
    const double g = gate[k], u = up[k], d = dout[k];
    const double s = sigmoid(g);
    dgate[k] = static_cast<T>(d * u * s * (1.0 + g * (1.0 - s)));
    dup[k] = static_cast<T>(d * g * s);
  }
}

template void swiglu_forward<float>(float*, const float*, const float*, std::int64_t);
template void swiglu_forward<double>(double*, const double*, const double*, std::int64_t);
template void swiglu_backward<float>(float*, float*, const float*, const float*, const float*, std::int64_t);
template void swiglu_backward<double>(double*, double*, const double*, const double*, const double*, std::int64_t);

}  // namespace mhc::ops::cpu
