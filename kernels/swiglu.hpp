// SwiGLU gating on the GPU, fp32 tensors with the element math in double; the CPU oracle is ops::cpu::swiglu_*.
#pragma once

#include <cstdint>

#include "core/stream.hpp"

namespace mhc::kernels {

// out (n) = silu(gate) * up, silu(g) = g * sigmoid(g); out may alias gate or up. Asynchronous on `stream`.
void launch_swiglu_forward(float* out, const float* gate, const float* up, std::int64_t n, StreamHandle stream);

// dgate (n) = dout * up * sigmoid(g) * (1 + g * (1 - sigmoid(g))), dup (n) = dout * silu(g); each may alias dout
// (not gate, up or each other).
void launch_swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                            std::int64_t n, StreamHandle stream);

}  // namespace mhc::kernels
