// The HC coefficients op case of the harness (support/op_harness.hpp): forward, B (dxb, dproj) and W.
#pragma once

#include <cmath>
#include <string>

#include "ops/hc_coeffs.hpp"
#include "support/op_harness.hpp"

namespace mhc::test {

// xb (N, n, C), w (C, n+2) ~ N(0, 1/C) (proj ~ N(0, 1): the tanh slopes differ from 1, far from saturation),
// s = (0.7, -1.3) (both signs), am (n), ar (n, n), bb (n) -> h_pre, h_post (N, n), h_res (N, n, n), proj saved.
// B overwrites dxb and the workspace dproj; W accumulates dw, ds, dam, dar, dbb.
inline OpCase hc_coeffs_case(std::int64_t N, std::int64_t n, std::int64_t C) {
  const std::int64_t P = n + 2;
  HostTensor s(DType::f64, Shape{2});
  s.set(0, 0.7);
  s.set(1, -1.3);
  OpCase c;
  c.op = "hc_coeffs N " + std::to_string(N) + " n " + std::to_string(n) + " C " + std::to_string(C);
  c.inputs = {{"xb", Shape{N, n, C}},
              {"w", Shape{C, P}, 1.0 / std::sqrt(static_cast<double>(C))},
              OpTensor::given_values("s", s),
              {"am", Shape{n}},
              {"ar", Shape{n, n}},
              {"bb", Shape{n}}};
  c.outputs = {{"h_pre", Shape{N, n}}, {"h_post", Shape{N, n}}, {"h_res", Shape{N, n, n}}, {"proj", Shape{N, n, P}}};
  c.loss_outputs = {"h_pre", "h_post", "h_res"};
  c.differentiable = {"xb", "w", "s", "am", "ar", "bb"};
  c.accumulated = {"w", "s", "am", "ar", "bb"};
  c.workspace = {{"dproj", Shape{N, n, P}}};
  c.forward = [](const OpTensors& t) {
    ops::hc_coeffs_forward(t["h_pre"], t["h_post"], t["h_res"], t["proj"], t["xb"], t["w"], t["s"], t["am"], t["ar"],
                           t["bb"]);
  };
  c.backward = [](const OpTensors& t) {
    ops::hc_coeffs_backward_input(t["dxb"], t["dproj"], t["dh_pre"], t["dh_post"], t["dh_res"], t["proj"], t["w"],
                                  t["s"]);
  };
  c.backward_weight = [](const OpTensors& t) {
    ops::hc_coeffs_backward_weight(t["dw"], t["ds"], t["dam"], t["dar"], t["dbb"], t["dproj"], t["dh_pre"],
                                   t["dh_post"], t["dh_res"], t["xb"], t["proj"]);
  };
  return c;
}

}  // namespace mhc::test
