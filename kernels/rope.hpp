// Rotary position embedding on the GPU, fp32 tensors with the rotation in double; the CPU oracle is
// ops::cpu::rope_rotate.
#pragma once

#include <cstdint>

#include "core/stream.hpp"

namespace mhc::kernels {

// out (B, S, H, D) = the rotation of in (B, S, H, D) by the angles t * theta^(-2i/D) of ops::rope_forward (pairs
// (2i, 2i+1), t the position in [0, S)), or by the negated angles when `inverse` (the backward). D even; out may
// alias in. Asynchronous on `stream`; a failed launch throws DeviceError.
void launch_rope_rotate(float* out, const float* in, std::int64_t B, std::int64_t S, std::int64_t H, std::int64_t D,
                        double theta, bool inverse, StreamHandle stream);

}  // namespace mhc::kernels
