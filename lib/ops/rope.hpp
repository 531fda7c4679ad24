// Rotary position embedding (RoPE) on (B, T, H, D) query/key tensors, forward and backward.
#pragma once

#include "core/tensor.hpp"

namespace mhc::ops {

// Pairing convention: the interleaved pairs (2i, 2i+1), i in [0, D/2), of the head dimension are rotated as one
// complex number x[2i] + i x[2i+1] (original RoFormer and Meta's llama reference `view_as_complex`; NOT the
// GPT-NeoX / Hugging Face `rotate_half` convention that pairs i with i + D/2). At position t the angle is
// t * theta^(-2i/D), t in [0, T) counted from the start of the sequence:
//   out[2i]   = x[2i] cos - x[2i+1] sin
//   out[2i+1] = x[2i] sin + x[2i+1] cos
// Angles, cos and sin are computed in double for both dtypes. Position 0 is the identity.
// Tensors f32 or f64 on the CPU, or f32 on CUDA (the rotation in double there too); on the CPU also bf16 in an f32
// call (ops/bf16_staging.hpp).

// out (B, T, H, D) = RoPE(x (B, T, H, D)), D even, theta > 0 (the model uses 10000). out may alias x.
void rope_forward(Tensor out, Tensor x, double theta);

// B: dx (B, T, H, D) = the inverse rotation of dout (B, T, H, D) (overwritten; may alias dout). RoPE has no weights.
void rope_backward(Tensor dx, Tensor dout, double theta);

}  // namespace mhc::ops
