// Fused softmax cross-entropy on the GPU, fp32 tensors with double math; the CPU oracle is ops::cpu::softmax_xent_*.
#pragma once

#include <cstdint>

#include "core/stream.hpp"

namespace mhc::kernels {

// lse (N) = m + log sum_v exp(logits (N, V) - m) with m the row maximum (the sum in double), loss (N) = lse -
// logits[target], or 0 where targets (N) < 0. Every target must already be known to be < V. V >= 1.
// Asynchronous on `stream`; a failed launch throws DeviceError.
void launch_softmax_xent_forward(float* loss, float* lse, const float* logits, const std::int32_t* targets,
                                 std::int64_t N, std::int64_t V, StreamHandle stream);

// dlogits (N, V) = grad_scale * (exp(logits - lse) - onehot(target)) in double, 0 on rows with a negative target;
// dlogits may alias logits.
void launch_softmax_xent_backward(float* dlogits, const float* logits, const float* lse, const std::int32_t* targets,
                                  std::int64_t N, std::int64_t V, double grad_scale, StreamHandle stream);

}  // namespace mhc::kernels
