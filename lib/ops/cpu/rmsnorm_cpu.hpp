// CPU RMSNorm loops (row-parallel; reductions in double).
#pragma once

#include <cstdint>

namespace mhc::ops::cpu {

template <typename T>
void rmsnorm_forward(T* out, T* rstd, const T* x, const T* w, std::int64_t N, std::int64_t C, double eps);

template <typename T>
void rmsnorm_backward_input(T* dx, const T* dout, const T* x, const T* w, const T* rstd, std::int64_t N,
                            std::int64_t C);

template <typename T>
void rmsnorm_backward_weight(T* dw, const T* dout, const T* x, const T* rstd, std::int64_t N, std::int64_t C);

}  // namespace mhc::ops::cpu
