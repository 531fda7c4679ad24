// The axpby op case of the harness (support/op_harness.hpp). axpby has no backward op: its gradients are axpby
// again (da = alpha dout, db = beta dout).
#pragma once

#include <string>

#include "ops/elementwise.hpp"
#include "support/op_harness.hpp"

namespace mhc::test {

// a, b (shape) -> out = alpha a + beta b; da, db overwritten.
inline OpCase axpby_case(Shape shape, float alpha, float beta) {
  OpCase c;
  c.op = "axpby " + std::to_string(shape.numel());
  c.inputs = {{"a", shape}, {"b", shape}};
  c.outputs = {{"out", shape}};
  c.loss_outputs = {"out"};
  c.differentiable = {"a", "b"};
  c.forward = [alpha, beta](const OpTensors& t) { ops::axpby(t["out"], alpha, t["a"], beta, t["b"]); };
  c.backward = [alpha, beta](const OpTensors& t) {
    ops::axpby(t["da"], alpha, t["dout"], 0.0f, t["dout"]);
    ops::axpby(t["db"], 0.0f, t["dout"], beta, t["dout"]);
  };
  return c;
}

}  // namespace mhc::test
