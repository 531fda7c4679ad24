// Whole-layer gradient tests of the residual layers: every connection x every sublayer, input and all parameters.
#include <catch2/catch.hpp>

#include "core/rng.hpp"
#include "model/residual_layer.hpp"
#include "model_test_util.hpp"
#include "ops/elementwise.hpp"
#include "support/gradcheck.hpp"

using namespace mhc;
using namespace mhc::model;
using mhc::test::check_gradient;
using mhc::test::dot;
using mhc::test::host_copy;
using mhc::test::random_tensor;

namespace {

constexpr std::int64_t kBatch = 2;

// Moves every parameter of block 0 away from its init so no gradient is degenerate: N(0, 0.2^2) noise on all
// of them, the mHC alphas set near 0.5 (the init 0.01 would hide the phi gradient).
void perturb_for_gradients(const ParameterStore& store) {
  test::perturb_parameters(store, 0.2);
  for (const auto& spec : store.specs()) {
    if (spec.component != Component::connection || !has_leaf(spec, "alpha")) continue;
    const Tensor p = store.param(spec.name);
    HostTensor half(DType::f64, spec.shape);
    fill_constant(half, 0.5);
    ops::axpby(p, 1.0f, p, 1.0f, half);
  }
}

struct LayerCase {
  model::ConnectionType type;
  std::int64_t n;
  SublayerKind kind;
};

std::string describe(const LayerCase& c) {
  return std::string(c.type->name()) + " n=" + std::to_string(c.n) +
         (c.kind == SublayerKind::attention ? " attention" : " mlp");
}

void check_layer_gradients(const LayerCase& lc) {
  INFO(describe(lc));
  const config::Config cfg = test::tiny_config(lc.type, lc.n);
  ParameterStore store(model_parameter_specs(cfg), cfg, DType::f64, 7);
  perturb_for_gradients(store);
  ResidualLayer layer(cfg, store, 0, lc.kind);
  const LayerContext ctx = layer.make_context(kBatch);
  const Shape xs{kBatch * cfg.model.seq_len, lc.n, cfg.model.d_model};
  HostTensor x_in = random_tensor(xs, "x_in");
  HostTensor x_out(DType::f64, xs), dx_out = random_tensor(xs, "dx_out"), dx_in(DType::f64, xs);

  layer.forward(ctx, x_in, x_out);
  layer.backward_input(ctx, dx_out, dx_in);
  layer.backward_weight(ctx);

  const auto loss = [&]() {
    const LayerContext c = layer.make_context(kBatch);
    HostTensor y(DType::f64, xs);
    layer.forward(c, x_in, y);
    return dot(dx_out, y);
  };
  check_gradient("x_in", x_in, dx_in, loss);

  int checked = 0;
  for (const auto& spec : store.specs()) {
    if (spec.name.rfind(layer.prefix() + ".", 0) != 0) continue;
    const Tensor p = store.param(spec.name);
    HostTensor value = host_copy(p);
    const HostTensor analytic = host_copy(store.grad(spec.name));
    check_gradient(spec.name, value, analytic, [&]() {
      test::copy_into(p, value);
      return loss();
    });
    test::copy_into(p, value);
    ++checked;
  }
  const auto connection_params = lc.type->parameter_specs(cfg, layer.prefix() + ".conn", 0, 0).size();
  CHECK(checked == (lc.kind == SublayerKind::attention ? 5 : 4) + static_cast<int>(connection_params));
}

}  // namespace

// Every registered kind: n = 1 for single-stream kinds, else n = 2 around attention and n = 4 around the MLP.
TEST_CASE("residual layer gradients: every connection and sublayer, input and parameters", "[model][grad]") {
  for (const model::ConnectionType type : model::connection_kinds()) {
    const bool single = type->default_streams() == 1;
    for (const LayerCase lc : {LayerCase{type, single ? 1 : 2, SublayerKind::attention},
                               LayerCase{type, single ? 1 : 4, SublayerKind::mlp}}) {
      SECTION(describe(lc)) { check_layer_gradients(lc); }
    }
  }
}
