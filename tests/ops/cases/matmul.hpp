// The linear-layer op case of the harness (support/op_harness.hpp). The general GEMM entry point (out read and written
// with beta, transposes) keeps its own tests.
#pragma once

#include <string>

#include "ops/matmul.hpp"
#include "support/op_harness.hpp"

namespace mhc::test {

// x (N, I), w (O, I) -> y (N, O) = x w^T; dx overwritten, or accumulated when accumulate_dx; dw accumulated.
inline OpCase linear_case(std::int64_t N, std::int64_t I, std::int64_t O, bool accumulate_dx = false) {
  OpCase c;
  c.op = "linear N " + std::to_string(N) + " I " + std::to_string(I) + " O " + std::to_string(O) +
         (accumulate_dx ? " dx +=" : "");
  c.inputs = {{"x", Shape{N, I}}, {"w", Shape{O, I}}};
  c.outputs = {{"y", Shape{N, O}}};
  c.loss_outputs = {"y"};
  c.differentiable = {"x", "w"};
  c.accumulated = {"w"};
  if (accumulate_dx) c.accumulated.insert("x");
  c.forward = [](const OpTensors& t) { ops::linear_forward(t["y"], t["x"], t["w"]); };
  c.backward = [accumulate_dx](const OpTensors& t) {
    ops::linear_backward_input(t["dx"], t["dy"], t["w"], accumulate_dx);
    ops::linear_backward_weight(t["dw"], t["dy"], t["x"]);
  };
  return c;
}

}  // namespace mhc::test
