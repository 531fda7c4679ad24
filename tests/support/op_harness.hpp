// The generic op test harness: one description of an op's forward and backward (OpCase) gives its CPU gradient
// test against central finite differences in f64 (check_op_gradients), the agreement of its CPU f32 and f64 paths
// (check_op_f32_vs_f64) and its CUDA test against the CPU oracle (check_op_cuda, a [cuda] test that runs on a GPU
// or under the CUDA simulator). Op-specific checks (values against a definition, aliasing, errors, determinism) stay
// in the op's own test file; the cases live in tests/ops/cases/<op>.hpp.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/copy.hpp"
#include "core/host_tensor.hpp"
#include "cuda/device_support.hpp"
#include "cuda/sum_tolerance.hpp"
#include "support/gradcheck.hpp"
#include "support/mhc_inputs.hpp"
#include "support/op_testing.hpp"

namespace mhc::test {

// A named tensor of an op case; an input holds N(0, scale^2) values from the counter RNG keyed by the case's op
// name and its own name, then `adjust`ed.
struct OpTensor {
  OpTensor(std::string name_, Shape shape_, double scale_ = 1.0, std::function<void(const HostTensor&)> adjust_ = {})
      : name(std::move(name_)), shape(shape_), scale(scale_), adjust(std::move(adjust_)) {}
  // An input with these values instead of a draw (e.g. i32 token ids, used as they are in every dtype).
  static OpTensor given_values(std::string name_, const HostTensor& values) {
    OpTensor t(std::move(name_), values.view().shape);
    t.given = std::make_shared<HostTensor>(clone(values));
    return t;
  }
  std::string name;
  Shape shape;
  double scale;
  std::function<void(const HostTensor&)> adjust;  // applied to the f64 draw, e.g. to add a structured offset
  std::shared_ptr<const HostTensor> given;
};

// The tensors of one evaluation of a case by name (inputs, outputs, upstream and input gradients); a missing name
// fails the test.
class OpTensors {
 public:
  Tensor operator[](const std::string& name) const {
    const auto it = tensors_.find(name);
    if (it == tensors_.end()) FAIL("op case has no tensor \"" << name << "\"");
    return it->second;
  }
  void set(const std::string& name, Tensor t) { tensors_[name] = t; }

 private:
  std::map<std::string, Tensor> tensors_;
};

struct OpHostTensors;

// The bound of one compared tensor: |got - ref| <= atol + rtol |ref| per element, or, when `bound` is set, the
// per-element bound it derives from the oracle's tensors (e.g. a running error bound of a sum).
struct OpTolerance {
  using Bound = std::function<HostTensor(const OpHostTensors& oracle)>;
  OpTolerance(double atol_, double rtol_) : atol(atol_), rtol(rtol_) {}
  explicit OpTolerance(Bound bound_) : bound(std::move(bound_)) {}
  double atol = 0;
  double rtol = 0;
  Bound bound;
};

// An op as the harness drives it. forward reads the inputs and writes the outputs; backward reads the inputs, the
// outputs and the upstream gradients "d" + name of every loss output, and writes the gradient "d" + name of every
// input in `differentiable` (added to it for those in `accumulated`, else overwritten). A backward split into B and
// W: backward (B) also writes the `workspace` tensors (e.g. the pre-activation gradient W needs), and
// backward_weight (W) runs after it, reading them. The scalar loss of the gradient check is sum over the loss
// outputs of <d out, out>.
struct OpCase {
  std::string op;
  std::vector<OpTensor> inputs;
  std::vector<OpTensor> outputs;
  std::vector<std::string> loss_outputs;
  // Loss outputs whose upstream gradient is this constant rather than a draw, for ops whose backward takes a scale
  // instead of a gradient tensor (the cross-entropy's grad_scale).
  std::map<std::string, double> constant_upstream;
  std::vector<std::string> differentiable;
  std::set<std::string> accumulated;
  std::vector<OpTensor> workspace;
  std::function<void(const OpTensors&)> forward;
  std::function<void(const OpTensors&)> backward;
  std::function<void(const OpTensors&)> backward_weight;  // may be empty

  const OpTensor& input(const std::string& name) const {
    for (const OpTensor& t : inputs)
      if (t.name == name) return t;
    FAIL("op case " << op << " has no input \"" << name << "\"");
    return inputs.front();
  }
  const OpTensor& output(const std::string& name) const {
    for (const OpTensor& t : outputs)
      if (t.name == name) return t;
    FAIL("op case " << op << " has no output \"" << name << "\"");
    return outputs.front();
  }
};

// The host tensors of one evaluation of a case by name, kept alive with their views in `views`.
struct OpHostTensors {
  std::map<std::string, HostTensor> owned;
  OpTensors views;
  HostTensor& add(const std::string& name, HostTensor t) {
    HostTensor& slot = owned[name] = std::move(t);
    views.set(name, slot);
    return slot;
  }
};

namespace detail {

inline std::string key(const OpCase& c, const std::string& name) { return "harness." + c.op + "." + name; }

// The case's inputs and upstream gradients in `dtype`, from the f64 draws (so every dtype sees the same values up to
// its rounding); `round_to_f32` first rounds the draws to f32, so that an f64 oracle runs on the f32 values.
inline void add_inputs(OpHostTensors& set, const OpCase& c, DType dtype, bool round_to_f32) {
  const auto draw = [&](const std::string& name, Shape shape, double scale,
                        const std::function<void(const HostTensor&)>& adjust) {
    HostTensor v = random_tensor(shape, key(c, name), scale);
    if (adjust) adjust(v);
    if (round_to_f32) v = to_dtype(to_dtype(v, DType::f32), DType::f64);
    set.add(name, to_dtype(v, dtype));
  };
  for (const OpTensor& t : c.inputs) {
    if (!t.given)
      draw(t.name, t.shape, t.scale, t.adjust);
    else if (t.given->view().dtype == DType::i32)
      set.add(t.name, clone(*t.given));
    else
      set.add(t.name, to_dtype(*t.given, dtype));
  }
  for (const std::string& name : c.loss_outputs) {
    const auto constant = c.constant_upstream.find(name);
    if (constant == c.constant_upstream.end()) {
      draw("d" + name, c.output(name).shape, 1.0, nullptr);
    } else {
      HostTensor g(dtype, c.output(name).shape);
      for (std::int64_t k = 0; k < g.numel(); ++k) g.set(k, constant->second);
      set.add("d" + name, std::move(g));
    }
  }
}

inline HostTensor filled(DType dtype, Shape shape, double value) {
  HostTensor t(dtype, shape);
  for (std::int64_t k = 0; k < t.numel(); ++k) t.set(k, value);
  return t;
}

inline void run_backward(const OpCase& c, const OpTensors& t) {
  c.backward(t);
  if (c.backward_weight) c.backward_weight(t);
}

// The value an input gradient starts from: a random prior for accumulated gradients, else `fill` (garbage or NaN,
// so that an element the op skips fails).
inline HostTensor gradient_start(const OpCase& c, const std::string& name, DType dtype, double fill) {
  const Shape shape = c.input(name).shape;
  if (c.accumulated.count(name) != 0) {
    HostTensor prior = random_tensor(shape, key(c, "prior.d" + name));
    return to_dtype(to_dtype(prior, DType::f32), dtype);
  }
  return filled(dtype, shape, fill);
}

}  // namespace detail

// The value the gradient of `input` starts from in the harness's runs, in f64: the shared prior of an accumulated
// gradient, zeros for an overwritten one (e.g. for an error bound that includes |prior|).
inline HostTensor gradient_prior(const OpCase& c, const std::string& input) {
  if (c.accumulated.count(input) != 0) return detail::gradient_start(c, input, DType::f64, 0.0);
  return HostTensor(DType::f64, c.input(input).shape);
}

// The analytic gradient of every differentiable input against central differences of the loss, in f64 on the CPU.
inline void check_op_gradients(const OpCase& c, GradTolerance tol = {}) {
  INFO("op case " << c.op);
  OpHostTensors set;
  detail::add_inputs(set, c, DType::f64, false);
  for (const OpTensor& t : c.outputs) set.add(t.name, HostTensor(DType::f64, t.shape));
  for (const std::string& name : c.differentiable)
    set.add("d" + name, detail::gradient_start(c, name, DType::f64, 1e3));
  for (const OpTensor& t : c.workspace) set.add(t.name, detail::filled(DType::f64, t.shape, 1e3));
  c.forward(set.views);
  detail::run_backward(c, set.views);
  const auto loss = [&] {
    c.forward(set.views);
    double s = 0;
    for (const std::string& name : c.loss_outputs) s += dot(set.views["d" + name], set.views[name]);
    return s;
  };
  for (const std::string& name : c.differentiable) {
    HostTensor& g = set.owned.at("d" + name);
    if (c.accumulated.count(name) != 0) {  // the gradient is what backward added to the prior
      const HostTensor prior = gradient_prior(c, name);
      for (std::int64_t k = 0; k < g.numel(); ++k) g.set(k, g.get(k) - prior.get(k));
    }
    check_gradient(name, set.owned.at(name), g, loss, tol);
  }
}

// The CPU's f32 path against its f64 path on the same draws: every output, workspace tensor and input gradient
// ("d" + input) within its bound in max_abs.
inline void check_op_f32_vs_f64(const OpCase& c, const std::map<std::string, double>& max_abs) {
  INFO("op case " << c.op);
  OpHostTensors sets[2];
  const DType dtypes[2] = {DType::f64, DType::f32};
  for (int k = 0; k < 2; ++k) {
    detail::add_inputs(sets[k], c, dtypes[k], false);
    for (const OpTensor& t : c.outputs) sets[k].add(t.name, HostTensor(dtypes[k], t.shape));
    for (const std::string& name : c.differentiable)
      sets[k].add("d" + name, detail::gradient_start(c, name, dtypes[k], 0.0));
    for (const OpTensor& t : c.workspace) sets[k].add(t.name, HostTensor(dtypes[k], t.shape));
    c.forward(sets[k].views);
    detail::run_backward(c, sets[k].views);
  }
  std::vector<std::string> compared;
  for (const OpTensor& t : c.outputs) compared.push_back(t.name);
  for (const OpTensor& t : c.workspace) compared.push_back(t.name);
  for (const std::string& name : c.differentiable) compared.push_back("d" + name);
  for (const std::string& name : compared) {
    INFO(name);
    const auto it = max_abs.find(name);
    if (it == max_abs.end()) FAIL("op case " << c.op << ": no bound for \"" << name << "\"");
    CHECK(max_abs_diff(sets[1].owned.at(name), sets[0].owned.at(name)) <= it->second);
  }
}

// The same with one bound for every tensor.
inline void check_op_f32_vs_f64(const OpCase& c, double max_abs) {
  std::map<std::string, double> all;
  for (const OpTensor& t : c.outputs) all[t.name] = max_abs;
  for (const OpTensor& t : c.workspace) all[t.name] = max_abs;
  for (const std::string& name : c.differentiable) all["d" + name] = max_abs;
  check_op_f32_vs_f64(c, all);
}

// What check_op_cuda ran, for the op's own further checks (e.g. in place): the device tensors after the backward
// (forward outputs: the oracle's, rounded to f32) and the oracle's tensors.
struct CudaOpRun {
  Arena arena;
  OpTensors device;
  OpHostTensors oracle;
};

// [cuda] The case on the GPU against the CPU oracle in `oracle` dtype (f32, or f64 on the same f32 inputs): every
// output after the forward, then every input gradient after the backward, which is given the oracle's forward
// outputs so that it is compared on its own. Device outputs start as NaN (an element the op skips fails); accumulated
// gradients start from the same prior on both sides. `tolerance` names the bound of each output and gradient (and
// of the workspace tensors to compare). Every
// device tensor starts `shift` elements past the arena's alignment (shift 1: the kernels' unaligned, scalar paths).
inline CudaOpRun check_op_cuda(const OpCase& c, DType oracle, const std::map<std::string, OpTolerance>& tolerance,
                               std::int64_t shift = 0) {
  INFO("op case " << c.op);
  // The oracle twice: `fwd` (the forward alone, what the device forward is compared with) and `ref`, whose forward
  // outputs are rounded to f32 before its backward, the values the device backward gets.
  OpHostTensors fwd, ref, dev_in;
  for (OpHostTensors* set : {&fwd, &ref}) {
    detail::add_inputs(*set, c, oracle, true);
    for (const OpTensor& t : c.outputs) set->add(t.name, HostTensor(oracle, t.shape));
    c.forward(set->views);
  }
  for (const OpTensor& t : c.outputs) ref.add(t.name, to_dtype(to_dtype(ref.owned.at(t.name), DType::f32), oracle));
  for (const std::string& name : c.differentiable)
    ref.add("d" + name, detail::gradient_start(c, name, oracle, 0.0));
  for (const OpTensor& t : c.workspace) ref.add(t.name, HostTensor(oracle, t.shape));
  c.backward(ref.views);  // the oracle's W runs below, after the device B is compared
  const auto compare = [&](const std::string& name, const Tensor& got, const OpHostTensors& oracle_set) {
    const auto it = tolerance.find(name);
    if (it == tolerance.end()) FAIL("op case " << c.op << ": no tolerance for \"" << name << "\"");
    const OpTolerance& tol = it->second;
    const HostTensor want = to_dtype(oracle_set.owned.at(name), DType::f64);
    if (tol.bound)
      check_within(name, download(got), want, tol.bound(oracle_set));
    else
      check_close(name, download(got), want, tol.atol, tol.rtol);
  };

  detail::add_inputs(dev_in, c, DType::f32, true);
  std::int64_t bytes = 0;  // every tensor has 4-byte elements (f32, i32)
  for (const auto& [name, t] : dev_in.owned) bytes += (t.numel() + shift) * 4;
  for (const OpTensor& t : c.outputs) bytes += (t.shape.numel() + shift) * 4;
  for (const std::string& name : c.differentiable) bytes += (c.input(name).shape.numel() + shift) * 4;
  for (const OpTensor& t : c.workspace) bytes += (t.shape.numel() + shift) * 4;
  Arena arena = device_arena(bytes);
  const auto put = [&](const std::string& name, const HostTensor& host) {
    const Tensor block = arena.alloc(host.view().dtype, Shape{host.numel() + shift}, name);
    const Tensor d(static_cast<char*>(block.data) + shift * 4, host.view().dtype, host.view().shape, Device::cuda);
    copy_tensor(d, host);
    return d;
  };
  OpTensors dev;
  for (const auto& [name, t] : dev_in.owned) dev.set(name, put(name, t));
  for (const OpTensor& t : c.outputs) dev.set(t.name, put(t.name, nan_tensor(DType::f32, t.shape)));
  for (const std::string& name : c.differentiable)
    dev.set("d" + name, put("d" + name, detail::gradient_start(c, name, DType::f32, std::nan(""))));
  for (const OpTensor& t : c.workspace) dev.set(t.name, put(t.name, nan_tensor(DType::f32, t.shape)));

  c.forward(dev);
  for (const OpTensor& t : c.outputs) {
    compare(t.name, dev[t.name], fwd);
    copy_tensor(dev[t.name], to_dtype(ref.owned.at(t.name), DType::f32));  // the backward's inputs: the oracle's
  }
  c.backward(dev);
  // W reads B's workspace rounded to f32 on both sides (the device W gets the oracle's, as the device B got the
  // oracle's forward outputs), so that W is compared on its own. Workspace tensors are compared when `tolerance`
  // names them.
  for (const OpTensor& t : c.workspace) {
    if (tolerance.count(t.name) != 0) compare(t.name, dev[t.name], ref);
    const HostTensor rounded = to_dtype(ref.owned.at(t.name), DType::f32);
    copy_tensor(ref.views[t.name], to_dtype(rounded, oracle));
    copy_tensor(dev[t.name], rounded);
  }
  if (c.backward_weight) {
    c.backward_weight(ref.views);
    c.backward_weight(dev);
  }
  for (const std::string& name : c.differentiable) compare("d" + name, dev["d" + name], ref);
  return CudaOpRun{std::move(arena), dev, std::move(ref)};
}

}  // namespace mhc::test
