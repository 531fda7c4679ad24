// CPU element-wise loops.
#pragma once

#include <cstdint>

#include "core/tensor.hpp"

namespace mhc::ops::cpu {

template <typename T>
void axpby(T* out, T alpha, const T* a, T beta, const T* b, std::int64_t n);

// Conversion between any two of f32, f64, bf16 (same element count).
void convert_dtype(Tensor out, Tensor in);

}  // namespace mhc::ops::cpu
