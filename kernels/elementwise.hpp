// Element-wise kernels on the GPU, fp32; the CPU oracle is ops::cpu::axpby.
#pragma once

#include <cstdint>

#include "core/stream.hpp"

namespace mhc::kernels {

// out (n) = alpha * a + beta * b, rounded like the CPU (two products, one sum; no FMA contraction); out may alias
// a or b. float4 accesses when all three pointers are 16-byte aligned. Asynchronous on `stream`.
void launch_axpby(float* out, float alpha, const float* a, float beta, const float* b, std::int64_t n,
                  StreamHandle stream);

}  // namespace mhc::kernels
