// Fused softmax cross-entropy over the vocabulary: per-row loss and log-sum-exp, and the logits gradient.
// Float tensors f32 or f64 on the CPU, or f32 on CUDA (math in double on both); targets live on the same device as
// the logits. On CUDA the entry points validate the targets through a host copy, which synchronizes the stream.
#pragma once

#include "core/tensor.hpp"

namespace mhc::ops {

// Ignored rows: a negative target (e.g. -1 or -100) means "ignore this row": its loss is 0 and its logits gradient
// is 0 (its lse is still computed). Targets >= V throw ShapeError naming the target and V. The caller divides the
// summed loss by the number of counted rows it wants (the model counts all B*T positions).

// loss (N) = lse - logits[target], lse (N) = log sum_v exp(logits (N, V)) (both overwritten; stable max-shifted
// sums in double); targets (N) i32.
void softmax_xent_forward(Tensor loss, Tensor lse, Tensor logits, Tensor targets);

// B: dlogits (N, V) = grad_scale * (softmax(logits) - onehot(target)) = the gradient of grad_scale * sum_n loss[n]
// (overwritten; may alias logits, so the logits buffer can be reused in place). lse (N) from the forward.
// grad_scale is typically 1 / (N * micro_batches).
void softmax_xent_backward(Tensor dlogits, Tensor logits, Tensor lse, Tensor targets, double grad_scale);

}  // namespace mhc::ops
