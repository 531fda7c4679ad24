// The SwiGLU op case of the harness (support/op_harness.hpp).
#pragma once

#include <string>

#include "ops/swiglu.hpp"
#include "support/op_harness.hpp"

namespace mhc::test {

// gate, up (N, F) -> out (N, F); dgate, dup (N, F) overwritten. gate has scale 3, reaching the saturated tails.
inline OpCase swiglu_case(std::int64_t N, std::int64_t F) {
  OpCase c;
  c.op = "swiglu N " + std::to_string(N) + " F " + std::to_string(F);
  c.inputs = {{"gate", Shape{N, F}, 3.0}, {"up", Shape{N, F}}};
  c.outputs = {{"out", Shape{N, F}}};
  c.loss_outputs = {"out"};
  c.differentiable = {"gate", "up"};
  c.forward = [](const OpTensors& t) { ops::swiglu_forward(t["out"], t["gate"], t["up"]); };
  c.backward = [](const OpTensors& t) { ops::swiglu_backward(t["dgate"], t["dup"], t["dout"], t["gate"], t["up"]); };
  return c;
}

}  // namespace mhc::test
