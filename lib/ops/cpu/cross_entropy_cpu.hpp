// CPU fused softmax cross-entropy (row-parallel; targets already validated, negative = ignored row).
#pragma once

#include <cstdint>

namespace mhc::ops::cpu {

template <typename T>
void softmax_xent_forward(T* loss, T* lse, const T* logits, const std::int32_t* targets, std::int64_t N,
                          std::int64_t V);

// dlogits may alias logits.
template <typename T>
void softmax_xent_backward(T* dlogits, const T* logits, const T* lse, const std::int32_t* targets, std::int64_t N,
                           std::int64_t V, double grad_scale);

}  // namespace mhc::ops::cpu
