// CPU RoPE: rotation of interleaved pairs (2i, 2i+1) by t * theta^(-2i/D) (see ops/rope.hpp).
#pragma once

#include <cstdint>

namespace mhc::ops::cpu {

// out (B, S, H, D) = rotation of in by +angle (forward) or -angle (inverse = backward); out may alias in.
template <typename T>
void rope_rotate(T* out, const T* in, std::int64_t B, std::int64_t S, std::int64_t H, std::int64_t D, double theta,
                 bool inverse);

}  // namespace mhc::ops::cpu
