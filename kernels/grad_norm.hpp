// Gradient norm pieces on the GPU, fp32 data with double sums; the CPU oracle is ops::cpu::sum_squares and
// ops::cpu::scale_inplace.
#pragma once

#include <cstdint>
#include <vector>

#include "core/stream.hpp"

namespace mhc::kernels {

// For each array xs[i] of ns[i] floats (device pointers): sum_k xs[i][k]^2 in double, returned on the host in
// order. Each sum is deterministic: fixed grid-stride partials per block (the grid depends on ns[i] alone), then
// the partials summed by one block in a fixed order. Synchronizes `stream` once, at the end.
std::vector<double> sum_squares_each(const std::vector<const float*>& xs, const std::vector<std::int64_t>& ns,
                                     StreamHandle stream);

// x (n) *= s in place (one f32 product per element, like the CPU). Asynchronous on `stream`.
void launch_scale_inplace(float* x, float s, std::int64_t n, StreamHandle stream);

}  // namespace mhc::kernels
