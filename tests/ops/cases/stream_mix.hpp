// The stream mixing op cases of the harness (support/op_harness.hpp): the pre-apply, the fused post + res, and the
// two together, whose x gradient is stream_mix_backward's (its x_coef term is covered by the mhc_coeffs case).
#pragma once

#include <string>

#include "ops/stream_mix.hpp"
#include "support/op_harness.hpp"

namespace mhc::test {

inline std::string stream_tag(std::int64_t N, std::int64_t n, std::int64_t C) {
  return "N " + std::to_string(N) + " n " + std::to_string(n) + " C " + std::to_string(C);
}

// x (N, n, C), h_pre (N, n) -> u (N, C) = sum_i h_pre[i] x[i]; dh_pre overwritten.
inline OpCase stream_pre_apply_case(std::int64_t N, std::int64_t n, std::int64_t C) {
  OpCase c;
  c.op = "stream_pre_apply " + stream_tag(N, n, C);
  c.inputs = {{"x", Shape{N, n, C}}, {"h_pre", Shape{N, n}}};
  c.outputs = {{"u", Shape{N, C}}};
  c.loss_outputs = {"u"};
  c.differentiable = {"h_pre"};
  c.forward = [](const OpTensors& t) { ops::stream_pre_apply_forward(t["u"], t["x"], t["h_pre"]); };
  c.backward = [](const OpTensors& t) { ops::stream_pre_apply_backward(t["dh_pre"], t["du"], t["x"]); };
  return c;
}

// x (N, n, C), y (N, C), h_res (N, n, n) at scale 0.5, h_post (N, n) -> x_out (N, n, C); dy, dh_res, dh_post
// overwritten.
inline OpCase stream_post_res_case(std::int64_t N, std::int64_t n, std::int64_t C) {
  OpCase c;
  c.op = "stream_post_res " + stream_tag(N, n, C);
  c.inputs = {{"x", Shape{N, n, C}}, {"y", Shape{N, C}}, {"h_res", Shape{N, n, n}, 0.5}, {"h_post", Shape{N, n}}};
  c.outputs = {{"x_out", Shape{N, n, C}}};
  c.loss_outputs = {"x_out"};
  c.differentiable = {"y", "h_res", "h_post"};
  c.forward = [](const OpTensors& t) {
    ops::stream_post_res_forward(t["x_out"], t["x"], t["y"], t["h_res"], t["h_post"]);
  };
  c.backward = [](const OpTensors& t) {
    ops::stream_post_res_backward(t["dy"], t["dh_res"], t["dh_post"], t["dx_out"], t["x"], t["y"], t["h_post"]);
  };
  return c;
}

// A mixing layer's stream terms: x (N, n, C) feeds x_out = post_res(x, y, h_res, h_post) and u = pre_apply(x, h_pre);
// dx (accumulated) += sum_i h_res[i, j] dx_out[i] + h_pre[j] du, by stream_mix_backward.
inline OpCase stream_mix_case(std::int64_t N, std::int64_t n, std::int64_t C) {
  OpCase c;
  c.op = "stream_mix " + stream_tag(N, n, C);
  c.inputs = {{"x", Shape{N, n, C}},
              {"y", Shape{N, C}},
              {"h_res", Shape{N, n, n}, 0.5},
              {"h_post", Shape{N, n}},
              {"h_pre", Shape{N, n}}};
  c.outputs = {{"x_out", Shape{N, n, C}}, {"u", Shape{N, C}}};
  c.loss_outputs = {"x_out", "u"};
  c.differentiable = {"x"};
  c.accumulated = {"x"};
  c.forward = [](const OpTensors& t) {
    ops::stream_post_res_forward(t["x_out"], t["x"], t["y"], t["h_res"], t["h_post"]);
    ops::stream_pre_apply_forward(t["u"], t["x"], t["h_pre"]);
  };
  c.backward = [](const OpTensors& t) {
    ops::stream_mix_backward(t["dx"], t["dx_out"], t["du"], t["h_res"], t["h_pre"], t["x"], Tensor());
  };
  return c;
}

}  // namespace mhc::test
