// CPU SwiGLU element-wise loops (sigmoid evaluated in double, overflow-free for either sign).
#pragma once

#include <cstdint>

namespace mhc::ops::cpu {

template <typename T>
void swiglu_forward(T* out, const T* gate, const T* up, std::int64_t n);

template <typename T>
void swiglu_backward(T* dgate, T* dup, const T* dout, const T* gate, const T* up, std::int64_t n);

}  // namespace mhc::ops::cpu
