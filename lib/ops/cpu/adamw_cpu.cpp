// CPU AdamW: decoupled decay, moment updates and the bias-corrected step, per element in double.
#include "ops/cpu/adamw_cpu.hpp"

#include <cmath>

namespace mhc::ops::cpu {

template <typename T>
void adamw_step(T* param, const T* grad, T* m, T* v, std::int64_t n, const AdamWScalars& s) {
#pragma omp parallel for schedule(static) if (n >= (1 << 16))
  for (std::int64_t k = 0; k < n; ++k) {
    const double g = grad[k];
    const double mk = s.beta1 * m[k] + (1.0 - s.beta1) * g;
    const double vk = s.beta2 * v[k] + (1.0 - s.beta2) * g * g;
    m[k] = static_cast<T>(mk);
    v[k] = static_cast<T>(vk);
    param[k] = static_cast<T>(s.decay * param[k] - s.step_size * mk / (std::sqrt(vk) * s.inv_sqrt_bc2 + s.eps));
  }
}

template void adamw_step<float>(float*, const float*, float*, float*, std::int64_t, const AdamWScalars&);
template void adamw_step<double>(double*, const double*, double*, double*, std::int64_t, const AdamWScalars&);

}  // namespace mhc::ops::cpu
