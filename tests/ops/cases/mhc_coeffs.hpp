// The mHC coefficients op case of the harness (support/op_harness.hpp): forward, B (dx, x_coef, dtilde) and W.
#pragma once

#include <string>

#include "ops/mhc_coeffs.hpp"
#include "ops/stream_mix.hpp"
#include "support/op_harness.hpp"

namespace mhc::test {

// x (N, n, C), phi (n C, K) ~ N(0, 0.3^2) (gates far from saturation and far from linear), alpha = (0.8, -0.6, 1.1)
// (both signs), bias (K) ~ N(0, 0.5^2) -> h_pre, h_post (N, n), res_logits (N, n, n), proj (N, K) and rstd (N)
// saved. The x gradient is the whole of it: B writes dx and x_coef (workspace), and the x_coef x term that the
// layer leaves to ops::stream_mix_backward is added by that op here (with zero stream and du terms), so the case
// covers B's split. W accumulates dphi, dalpha, dbias from the workspace dtilde.
inline OpCase mhc_coeffs_case(std::int64_t N, std::int64_t n, std::int64_t C) {
  const std::int64_t K = n * n + 2 * n;
  HostTensor alpha(DType::f64, Shape{3});
  alpha.set(0, 0.8);
  alpha.set(1, -0.6);
  alpha.set(2, 1.1);
  OpCase c;
  c.op = "mhc_coeffs N " + std::to_string(N) + " n " + std::to_string(n) + " C " + std::to_string(C);
  c.inputs = {{"x", Shape{N, n, C}},
              {"phi", Shape{n * C, K}, 0.3},
              OpTensor::given_values("alpha", alpha),
              {"bias", Shape{K}, 0.5},
              OpTensor::given_values("zero_streams", HostTensor(DType::f64, Shape{N, n, C})),
              OpTensor::given_values("zero_du", HostTensor(DType::f64, Shape{N, C})),
              OpTensor::given_values("zero_h_res", HostTensor(DType::f64, Shape{N, n, n}))};
  c.outputs = {{"h_pre", Shape{N, n}},
               {"h_post", Shape{N, n}},
               {"res_logits", Shape{N, n, n}},
               {"proj", Shape{N, K}},
               {"rstd", Shape{N}}};
  c.loss_outputs = {"h_pre", "h_post", "res_logits"};
  c.differentiable = {"x", "phi", "alpha", "bias"};
  c.accumulated = {"phi", "alpha", "bias"};
  c.workspace = {{"dtilde", Shape{N, K}}, {"x_coef", Shape{N}}};
  c.forward = [](const OpTensors& t) {
    ops::mhc_coeffs_forward(t["h_pre"], t["h_post"], t["res_logits"], t["proj"], t["rstd"], t["x"], t["phi"],
                            t["alpha"], t["bias"]);
  };
  c.backward = [](const OpTensors& t) {
    ops::mhc_coeffs_backward_input(t["dx"], t["x_coef"], t["dtilde"], t["dh_pre"], t["dh_post"], t["dres_logits"],
                                   t["phi"], t["alpha"], t["h_pre"], t["h_post"], t["proj"], t["rstd"]);
    ops::stream_mix_backward(t["dx"], t["zero_streams"], t["zero_du"], t["zero_h_res"], t["h_pre"], t["x"],
                             t["x_coef"]);
  };
  c.backward_weight = [](const OpTensors& t) {
    ops::mhc_coeffs_backward_weight(t["dphi"], t["dalpha"], t["dbias"], t["dtilde"], t["x"], t["proj"], t["rstd"],
                                    t["alpha"]);
  };
  return c;
}

}  // namespace mhc::test
