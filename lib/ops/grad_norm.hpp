// Global gradient norm (deterministic, in double) and in-place scaling for gradient clipping.
#pragma once

#include <vector>

#include "core/tensor.hpp"

namespace mhc::ops {

// sum over grads[0], grads[1], ... (in that order) of sum_k g[k]^2, accumulated in double in element order.
// Each tensor f32 or f64 on the CPU, or f32 on CUDA, any shape (empty allowed). Take the sqrt for the norm.
// CUDA tensors are summed on the GPU in double in a fixed (not element) order, reproducible from run to run, and
// read back with one sync of the current stream.
double grad_norm_squared(const std::vector<Tensor>& grads);

// t (any shape, f32 or f64 on the CPU, f32 on CUDA) *= s in place (s rounded to t's dtype first), e.g.
// s = max_norm / norm when clipping.
void scale_inplace(Tensor t, double s);

}  // namespace mhc::ops
