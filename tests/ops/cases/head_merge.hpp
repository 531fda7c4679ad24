// The head merge op cases of the harness (support/op_harness.hpp): the stream sum, and the gate (forward, B with
// its workspace dlogit, W).
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

// x (N, n, C), phi (n C, n) ~ N(0, scale^2), alpha = 0.9, bias (n) ~ N(0, 0.5^2) -> y (N, C) and the saved w, proj
// (N, n) and rstd (N). B overwrites dx and the workspace dlogit; W accumulates dphi, dalpha, dbias. phi_scale 0.3
// for the few-column gradient checks, 1/sqrt(n C) for wide ones (proj ~ N(0, 1): the sigmoids are not saturated).
inline OpCase head_merge_gate_case(std::int64_t N, std::int64_t n, std::int64_t C, double phi_scale) {
  HostTensor alpha(DType::f64, Shape{1});
  alpha.set(0, 0.9);
  OpCase c;
  c.op = "head_merge_gate N " + std::to_string(N) + " n " + std::to_string(n) + " C " + std::to_string(C);
  c.inputs = {{"x", Shape{N, n, C}},
              {"phi", Shape{n * C, n}, phi_scale},
              OpTensor::given_values("alpha", alpha),
              {"bias", Shape{n}, 0.5}};
  c.outputs = {{"y", Shape{N, C}}, {"w", Shape{N, n}}, {"proj", Shape{N, n}}, {"rstd", Shape{N}}};
  c.loss_outputs = {"y"};
  c.differentiable = {"x", "phi", "alpha", "bias"};
  c.accumulated = {"phi", "alpha", "bias"};
  c.workspace = {{"dlogit", Shape{N, n}}};
  c.forward = [](const OpTensors& t) {
    ops::head_merge_gate_forward(t["y"], t["w"], t["proj"], t["rstd"], t["x"], t["phi"], t["alpha"], t["bias"]);
  };
  c.backward = [](const OpTensors& t) {
    ops::head_merge_gate_backward_input(t["dx"], t["dlogit"], t["dy"], t["x"], t["phi"], t["alpha"], t["w"],
                                        t["proj"], t["rstd"]);
  };
  c.backward_weight = [](const OpTensors& t) {
    ops::head_merge_gate_backward_weight(t["dphi"], t["dalpha"], t["dbias"], t["dlogit"], t["x"], t["proj"],
                                         t["rstd"], t["alpha"]);
  };
  return c;
}

}  // namespace mhc::test
