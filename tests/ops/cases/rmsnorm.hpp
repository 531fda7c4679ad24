// The RMSNorm op case of the harness (support/op_harness.hpp): forward, and the backward of x and of the weight.
#pragma once

#include <string>

#include "ops/rmsnorm.hpp"
#include "support/op_harness.hpp"

namespace mhc::test {

// x (N, C), w (C) -> out (N, C), rstd (N); dx (N, C) overwritten, dw (C) accumulated.
inline OpCase rmsnorm_case(std::int64_t N, std::int64_t C, double eps = 1e-6) {
  OpCase c;
  c.op = "rmsnorm N " + std::to_string(N) + " C " + std::to_string(C);
  c.inputs = {{"x", Shape{N, C}}, {"w", Shape{C}}};
  c.outputs = {{"out", Shape{N, C}}, {"rstd", Shape{N}}};
  c.loss_outputs = {"out"};
  c.differentiable = {"x", "w"};
  c.accumulated = {"w"};
  c.forward = [eps](const OpTensors& t) { ops::rmsnorm_forward(t["out"], t["rstd"], t["x"], t["w"], eps); };
  c.backward = [](const OpTensors& t) {
    ops::rmsnorm_backward_input(t["dx"], t["dout"], t["x"], t["w"], t["rstd"]);
    ops::rmsnorm_backward_weight(t["dw"], t["dout"], t["x"], t["rstd"]);
  };
  return c;
}

}  // namespace mhc::test
