// CPU element-wise loops.
#pragma once

#include <cstdint>

#include "core/tensor.hpp"

namespace mhc::ops::cpu {

template <typename T>
void axpby(T* out, T alpha, const T* a, T beta, const T* b, std::int64_t n);

// Conversion between any two of f32, f64, bf16 (same element count).
void convert_dtype(Tensor out, Tensor in);

// out[k] = in[k] as f32 (exact), and out[k] = in[k] rounded to the nearest bf16, ties to even (float_to_bf16).
void widen_bf16(float* out, const bf16_t* in, std::int64_t n);
void narrow_to_bf16(bf16_t* out, const float* in, std::int64_t n);

}  // namespace mhc::ops::cpu
