// The token embedding op case of the harness (support/op_harness.hpp).
#pragma once

#include <string>

#include "ops/embedding.hpp"
#include "support/op_harness.hpp"

namespace mhc::test {

// ids (N, i32, given) and table (V, C) -> out (N, C); dtable (V, C) accumulated (a scatter-add over the ids).
inline OpCase embedding_case(const HostTensor& ids, std::int64_t V, std::int64_t C) {
  const std::int64_t N = ids.numel();
  OpCase c;
  c.op = "embedding N " + std::to_string(N) + " V " + std::to_string(V) + " C " + std::to_string(C);
  c.inputs = {OpTensor::given_values("ids", ids), {"table", Shape{V, C}}};
  c.outputs = {{"out", Shape{N, C}}};
  c.loss_outputs = {"out"};
  c.differentiable = {"table"};
  c.accumulated = {"table"};
  c.forward = [](const OpTensors& t) { ops::embedding_forward(t["out"], t["ids"], t["table"]); };
  c.backward = [](const OpTensors& t) { ops::embedding_backward_weight(t["dtable"], t["dout"], t["ids"]); };
  return c;
}

}  // namespace mhc::test
