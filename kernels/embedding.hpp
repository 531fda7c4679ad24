// Token embedding on the GPU, fp32; the CPU oracle is ops::cpu::embedding_*.
#pragma once

#include <cstdint>

#include "core/stream.hpp"

namespace mhc::kernels {

// out (N, C) = table (V, C)[ids (N)]; every id must already be known to lie in [0, V) (the entry point checks).
// out may not alias table. Asynchronous on `stream`; a failed launch throws DeviceError.
void launch_embedding_forward(float* out, const std::int32_t* ids, const float* table, std::int64_t N,
                              std::int64_t C, StreamHandle stream);

// dtable (V, C) += scatter of dout (N, C) by ids (N), every id in [0, V), no atomics: a stable radix sort of the
// ids (CUB) groups the positions of each id in ascending order, then one block per distinct id adds its dout rows
// in that order, so each dtable element receives exactly the CPU's sequence of f32 additions (the same bits).
// Rows of ids that do not occur are untouched. Uses stream-ordered scratch of about 12 N bytes plus CUB's.
void launch_embedding_backward_weight(float* dtable, const float* dout, const std::int32_t* ids, std::int64_t N,
                                      std::int64_t V, std::int64_t C, StreamHandle stream);

}  // namespace mhc::kernels
