// The stream-sum head merge op case of the harness (support/op_harness.hpp). The gate merge, whose backward has an
// intermediate (dlogit) and a separate accumulating weight pass, keeps its own tests.
#pragma once

#include <string>

#include "ops/head_merge.hpp"
#include "support/op_harness.hpp"

namespace mhc::test {

// x (N, n, C) -> y (N, C) = sum_i x[i]; dx overwritten (dy in every stream).
inline OpCase stream_sum_case(std::int64_t N, std::int64_t n, std::int64_t C) {
  OpCase c;
  c.op = "stream_sum N " + std::to_string(N) + " n " + std::to_string(n) + " C " + std::to_string(C);
  c.inputs = {{"x", Shape{N, n, C}}};
  c.outputs = {{"y", Shape{N, C}}};
  c.loss_outputs = {"y"};
  c.differentiable = {"x"};
  c.forward = [](const OpTensors& t) { ops::stream_sum_forward(t["y"], t["x"]); };
  c.backward = [](const OpTensors& t) { ops::stream_sum_backward(t["dx"], t["dy"]); };
  return c;
}

}  // namespace mhc::test
