// The RoPE op case of the harness (support/op_harness.hpp).
#pragma once

#include <string>

#include "ops/rope.hpp"
#include "support/op_harness.hpp"

namespace mhc::test {

// x (B, S, H, D) -> out (B, S, H, D), rotated by the angles of theta; dx overwritten.
inline OpCase rope_case(std::int64_t B, std::int64_t S, std::int64_t H, std::int64_t D, double theta = 10000.0) {
  OpCase c;
  c.op = "rope B " + std::to_string(B) + " S " + std::to_string(S) + " H " + std::to_string(H) + " D " +
         std::to_string(D);
  c.inputs = {{"x", Shape{B, S, H, D}}};
  c.outputs = {{"out", Shape{B, S, H, D}}};
  c.loss_outputs = {"out"};
  c.differentiable = {"x"};
  c.forward = [theta](const OpTensors& t) { ops::rope_forward(t["out"], t["x"], theta); };
  c.backward = [theta](const OpTensors& t) { ops::rope_backward(t["dx"], t["dout"], theta); };
  return c;
}

}  // namespace mhc::test
