// CPU token embedding: row gather and sequential scatter-add (ids already validated).
#pragma once

#include <cstdint>

namespace mhc::ops::cpu {

// out (N, C) = table[ids].
template <typename T>
void embedding_forward(T* out, const std::int32_t* ids, const T* table, std::int64_t N, std::int64_t C);

// dtable[ids[n]] += dout[n] for n = 0, 1, ..., N-1 in that order.
template <typename T>
void embedding_backward_weight(T* dtable, const T* dout, const std::int32_t* ids, std::int64_t N, std::int64_t C);

}  // namespace mhc::ops::cpu
