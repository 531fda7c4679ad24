// SwiGLU gating of the MLP: out = silu(gate) * up, forward and backward.
// Every tensor f32 or f64 on the CPU, or f32 on CUDA (all on one device); element math in double on both. On the
// CPU any of them may also be bf16 in an f32 call (ops/bf16_staging.hpp).
#pragma once

#include "core/tensor.hpp"

namespace mhc::ops {

// out (N, F) = silu(gate (N, F)) * up (N, F), silu(g) = g * sigmoid(g). Overwritten; may alias gate or up.
void swiglu_forward(Tensor out, Tensor gate, Tensor up);

// B: dgate (N, F) = dout * up * sigmoid(g) * (1 + g * (1 - sigmoid(g))), dup (N, F) = dout * silu(g)
// (both overwritten; each may alias dout, but not gate, up or each other). SwiGLU has no weights.
void swiglu_backward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up);

}  // namespace mhc::ops
