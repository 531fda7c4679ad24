// CPU causal attention core: tiled, one (batch, head) per OpenMP thread, online softmax, no S x S buffer; results
// do not depend on the thread count (see ops/attention.hpp and attention_cpu.cpp).
#pragma once

#include <cstdint>

namespace mhc::ops::cpu {

// q, k, v, out (B, S, H, D); lse (B, H, S).
template <typename T>
void attention_forward(T* out, T* lse, const T* q, const T* k, const T* v, std::int64_t B, std::int64_t S,
                       std::int64_t H, std::int64_t D);

// dq, dk, dv, dout, q, k, v, out (B, S, H, D); lse (B, H, S).
template <typename T>
void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v, const T* out,
                        const T* lse, std::int64_t B, std::int64_t S, std::int64_t H, std::int64_t D);

}  // namespace mhc::ops::cpu
