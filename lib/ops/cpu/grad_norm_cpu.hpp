// CPU sum of squares (sequential, in double) and in-place scaling.
#pragma once

#include <cstdint>

namespace mhc::ops::cpu {

// sum_k x[k]^2 in double, in element order.
template <typename T>
double sum_squares(const T* x, std::int64_t n);

template <typename T>
void scale_inplace(T* x, T s, std::int64_t n);

}  // namespace mhc::ops::cpu
