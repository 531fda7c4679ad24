// CPU stream contraction before the final norm: sum and gated merge (contracts in ops/head_merge.hpp).
#pragma once

#include <cstdint>

namespace mhc::ops::cpu {

// Extents: N tokens, n streams, C hidden size.
struct HeadMergeDims {
  std::int64_t N, n, C;
};

template <typename T>
void stream_sum_forward(T* y, const T* x, HeadMergeDims d);

template <typename T>
void stream_sum_backward(T* dx, const T* dy, HeadMergeDims d);

template <typename T>
void head_merge_gate_forward(T* y, T* w, T* proj, T* rstd, const T* x, const T* phi, const T* alpha, const T* bias,
                             HeadMergeDims d, T rms_eps, T weight_eps);

template <typename T>
void head_merge_gate_backward_input(T* dx, T* dlogit, const T* dy, const T* x, const T* phi, const T* alpha, const T* w,
                                    const T* proj, const T* rstd, HeadMergeDims d, T weight_eps);

template <typename T>
void head_merge_gate_backward_weight(T* dphi, T* dalpha, T* dbias, const T* dlogit, const T* x, const T* proj,
                                     const T* rstd, const T* alpha, HeadMergeDims d);

}  // namespace mhc::ops::cpu
