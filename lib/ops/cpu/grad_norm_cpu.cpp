// CPU gradient-norm loops.
#include "ops/cpu/grad_norm_cpu.hpp"

namespace mhc::ops::cpu {

template <typename T>
double sum_squares(const T* x, std::int64_t n) {
  double s = 0;
  for (std::int64_t k = 0; k < n; ++k) s += static_cast<double>(x[k]) * x[k];
  return s;
}

template <typename T>
void scale_inplace(T* x, T s, std::int64_t n) {
  for (std::int64_t k = 0; k < n; ++k) x[k] *= s;
}

template double sum_squares<float>(const float*, std::int64_t);
template double sum_squares<double>(const double*, std::int64_t);
template void scale_inplace<float>(float*, float, std::int64_t);
template void scale_inplace<double>(double*, double, std::int64_t);

}  // namespace mhc::ops::cpu
