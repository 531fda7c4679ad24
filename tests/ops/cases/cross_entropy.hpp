// The fused softmax cross-entropy op case of the harness (support/op_harness.hpp).
#pragma once

#include <string>

#include "ops/cross_entropy.hpp"
#include "support/op_harness.hpp"

namespace mhc::test {

// logits (N, V) at `scale`, targets (N, i32, given; negative = ignored row) -> loss (N), lse (N); dlogits (N, V)
// overwritten with the gradient of grad_scale * sum_n loss[n] (the upstream gradient of loss is the constant
// grad_scale).
inline OpCase cross_entropy_case(const HostTensor& targets, std::int64_t V, double scale, double grad_scale) {
  const std::int64_t N = targets.numel();
  OpCase c;
  c.op = "cross_entropy N " + std::to_string(N) + " V " + std::to_string(V);
  c.inputs = {{"logits", Shape{N, V}, scale}, OpTensor::given_values("targets", targets)};
  c.outputs = {{"loss", Shape{N}}, {"lse", Shape{N}}};
  c.loss_outputs = {"loss"};
  c.constant_upstream = {{"loss", grad_scale}};
  c.differentiable = {"logits"};
  c.forward = [](const OpTensors& t) { ops::softmax_xent_forward(t["loss"], t["lse"], t["logits"], t["targets"]); };
  c.backward = [grad_scale](const OpTensors& t) {
    ops::softmax_xent_backward(t["dlogits"], t["logits"], t["lse"], t["targets"], grad_scale);
  };
  return c;
}

}  // namespace mhc::test
