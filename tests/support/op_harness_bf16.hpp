// The bf16 check of the op harness (support/op_harness.hpp): an op case run on the CPU with some of its tensors
// stored in bf16 (train.precision "bf16"), against the f32 path and the f64 oracle on the same values.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "support/op_harness.hpp"

namespace mhc::test {

// The unit roundoff of bf16 (8 significant bits): rounding to nearest moves a value v by at most 2^-8 |v| (normal
// range; every value these cases produce is far from the subnormals).
constexpr double kBf16UnitRoundoff = 1.0 / 256;

namespace detail {

// A copy of the f64 tensor v rounded to bf16 (to nearest, ties to even), held in f64.
inline HostTensor bf16_rounded(const HostTensor& v) { return to_dtype(to_dtype(v, DType::bf16), DType::f64); }

// Every tensor of one run of the case: inputs and upstream gradients from `values` (f64) converted to the dtype
// `dtype_of` gives their name, outputs, input gradients (from their start values) and workspace the same way.
template <class DTypeOf>
OpHostTensors bf16_run_tensors(const OpCase& c, const OpHostTensors& values, DTypeOf dtype_of) {
  OpHostTensors set;
  for (const auto& [name, v] : values.owned)
    set.add(name, v.view().dtype == DType::i32 ? clone(v) : to_dtype(v, dtype_of(name)));
  for (const OpTensor& t : c.outputs) set.add(t.name, HostTensor(dtype_of(t.name), t.shape));
  for (const std::string& name : c.differentiable)
    set.add("d" + name, to_dtype(gradient_start(c, name, DType::f64, 0.0), dtype_of("d" + name)));
  for (const OpTensor& t : c.workspace) set.add(t.name, HostTensor(dtype_of(t.name), t.shape));
  return set;
}

// Rounds the tensors of `set` that `bf16` names to bf16 values in place (the set's own dtype kept).
inline void round_named(OpHostTensors& set, const std::vector<std::string>& names, const std::set<std::string>& bf16) {
  for (const std::string& name : names) {
    if (bf16.count(name) == 0) continue;
    HostTensor& t = set.owned.at(name);
    const HostTensor rounded = to_dtype(bf16_rounded(to_dtype(t, DType::f64)), t.view().dtype);
    copy_tensor(t.view(), rounded.view());
  }
}

}  // namespace detail

// The CPU bf16 path of a case: the tensors `bf16` names (inputs, outputs, upstream gradients "d" + output, input
// gradients "d" + input) stored in bf16, every other float tensor in f32, as the bf16 kernels of the GPU will take
// them. Every input holds a value of its storage dtype, the same in all three runs below.
//  1. Exact emulation: every output and input gradient equals, bit for bit, the f32 path's on the same values whose
//     results the bf16 path stores in bf16 are rounded to bf16 (to nearest, ties to even) as they are produced
//     (forward outputs before the backward reads them): the bf16 path is the f32 path plus those roundings.
//  2. Against the f64 oracle (the same values, the same forward outputs rounded before its backward): each bf16
//     result r is within u |o| + (1 + u) |f - o| of the oracle's o, u = 2^-8, f the f32 path's unrounded result:
//     |r - o| <= |r - f| + |f - o| and rounding moves f by at most u |f| <= u (|o| + |f - o|).
// Accumulated input gradients and workspace tensors stay f32 (FAIL when `bf16` names one).
inline void check_op_bf16(const OpCase& c, const std::set<std::string>& bf16) {
  INFO("op case " << c.op << " in bf16");
  for (const std::string& name : c.accumulated)
    if (bf16.count("d" + name) != 0) FAIL("check_op_bf16: the accumulated gradient d" << name << " stays f32");
  for (const OpTensor& t : c.workspace)
    if (bf16.count(t.name) != 0) FAIL("check_op_bf16: the workspace tensor " << t.name << " stays f32");
  OpHostTensors values;
  detail::add_inputs(values, c, DType::f64, /*round_to_f32=*/true);
  for (auto& [name, v] : values.owned)
    if (bf16.count(name) != 0) v = detail::bf16_rounded(v);
  for (const auto& [name, v] : values.owned) values.views.set(name, v);

  std::vector<std::string> outputs, gradients;
  for (const OpTensor& t : c.outputs) outputs.push_back(t.name);
  for (const std::string& name : c.differentiable) gradients.push_back("d" + name);
  const auto f64 = [](const std::string&) { return DType::f64; };
  const auto f32 = [](const std::string&) { return DType::f32; };
  const auto mixed = [&](const std::string& name) { return bf16.count(name) != 0 ? DType::bf16 : DType::f32; };

  // The f64 oracle and the f32 path, each forward outputs rounded before the backward; f32's unrounded results kept.
  OpHostTensors oracle = detail::bf16_run_tensors(c, values, f64), ref = detail::bf16_run_tensors(c, values, f32);
  std::map<std::string, HostTensor> unrounded;
  c.forward(oracle.views);
  c.forward(ref.views);
  for (const std::string& name : outputs) unrounded[name] = to_dtype(ref.owned.at(name), DType::f64);
  detail::round_named(oracle, outputs, bf16);  // what the backward reads in the bf16 path
  detail::round_named(ref, outputs, bf16);
  detail::run_backward(c, oracle.views);
  detail::run_backward(c, ref.views);
  for (const std::string& name : gradients) unrounded[name] = to_dtype(ref.owned.at(name), DType::f64);
  detail::round_named(ref, gradients, bf16);

  OpHostTensors got = detail::bf16_run_tensors(c, values, mixed);
  c.forward(got.views);
  detail::run_backward(c, got.views);

  std::vector<std::string> compared = outputs;
  compared.insert(compared.end(), gradients.begin(), gradients.end());
  for (const std::string& name : compared) {
    INFO(name << (bf16.count(name) != 0 ? " (bf16)" : " (f32)"));
    const HostTensor r = to_dtype(got.owned.at(name), DType::f64), want = to_dtype(ref.owned.at(name), DType::f64);
    CHECK(max_abs_diff(r, want) == 0.0);
    if (bf16.count(name) == 0) continue;
    const HostTensor o = to_dtype(oracle.owned.at(name), DType::f64);
    const HostTensor& f = unrounded.at(name);
    std::int64_t outside = 0;
    for (std::int64_t k = 0; k < r.numel(); ++k) {
      const double bound =
          kBf16UnitRoundoff * std::fabs(o.get(k)) + (1 + kBf16UnitRoundoff) * std::fabs(f.get(k) - o.get(k));
      if (!(std::fabs(r.get(k) - o.get(k)) <= bound) && outside++ < 3)
        UNSCOPED_INFO(name << "[" << k << "] = " << r.get(k) << ", oracle " << o.get(k) << ", bound " << bound);
    }
    CHECK(outside == 0);
  }
}

}  // namespace mhc::test
