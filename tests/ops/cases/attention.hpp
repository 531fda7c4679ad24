// The causal attention op case of the harness (support/op_harness.hpp).
#pragma once

#include <string>

#include "ops/attention.hpp"
#include "support/op_harness.hpp"

namespace mhc::test {

// q, k, v (B, T, H, D) -> out (B, T, H, D), lse (B, H, T); dq, dk, dv overwritten. q_scale and k_scale set the
// spread of the scores (the softmax's running max moves more with larger scales).
inline OpCase attention_case(std::int64_t B, std::int64_t T, std::int64_t H, std::int64_t D, double q_scale = 1.0,
                             double k_scale = 1.0) {
  OpCase c;
  c.op = "attention B " + std::to_string(B) + " T " + std::to_string(T) + " H " + std::to_string(H) + " D " +
         std::to_string(D);
  const Shape s{B, T, H, D};
  c.inputs = {{"q", s, q_scale}, {"k", s, k_scale}, {"v", s}};
  c.outputs = {{"out", s}, {"lse", Shape{B, H, T}}};
  c.loss_outputs = {"out"};
  c.differentiable = {"q", "k", "v"};
  c.forward = [](const OpTensors& t) { ops::attention_forward(t["out"], t["lse"], t["q"], t["k"], t["v"]); };
  c.backward = [](const OpTensors& t) {
    ops::attention_backward(t["dq"], t["dk"], t["dv"], t["dout"], t["q"], t["k"], t["v"], t["out"], t["lse"]);
  };
  return c;
}

}  // namespace mhc::test
