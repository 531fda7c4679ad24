// CPU AdamW element loop with the step's scalars precomputed by the entry point.
#pragma once

#include <cstdint>

namespace mhc::ops::cpu {

struct AdamWScalars {
  double decay;         // 1 - lr * weight_decay
  double beta1, beta2;
  double step_size;     // lr / (1 - beta1^step)
  double inv_sqrt_bc2;  // 1 / sqrt(1 - beta2^step)
  double eps;
};

template <typename T>
void adamw_step(T* param, const T* grad, T* m, T* v, std::int64_t n, const AdamWScalars& s);

}  // namespace mhc::ops::cpu
