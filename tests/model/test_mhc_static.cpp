// The mhc_static connection: mHC's coefficient map with the dynamic term removed (alpha * z = 0), one bias per layer.
#include <catch2/catch.hpp>

#include "core/rng.hpp"
#include "model/residual_layer.hpp"
#include "model_test_util.hpp"
#include "support/gradcheck.hpp"

using namespace mhc;
using namespace mhc::model;
using mhc::test::host_copy;
using mhc::test::max_abs_diff;
using mhc::test::random_tensor;

namespace {

constexpr std::int64_t kBatch = 2;

}  // namespace

TEST_CASE("mhc_static holds one bias per connection, without weight decay", "[model]") {
  const config::Config cfg = test::tiny_config(connection_kind("mhc_static"), 4, 2);
  const std::int64_t K = 4 * 4 + 2 * 4;
  int seen = 0;
  for (const auto& spec : model_parameter_specs(cfg)) {
    if (spec.component != Component::connection) continue;
    CHECK(has_leaf(spec, "bias"));
    CHECK(spec.shape == Shape{K});
    CHECK_FALSE(spec.weight_decay);
    ++seen;
  }
  CHECK(seen == 4);  // 2 blocks x (attention, MLP)
  // At init the bias is mHC's (residual.bias_init "identity"), so mhc_static starts where mhc does with alpha = 0.
  config::Config mhc_cfg = cfg;
  mhc_cfg.residual.type = connection_kind("mhc");
  ParameterStore s(model_parameter_specs(cfg), cfg, DType::f64, 5), m(model_parameter_specs(mhc_cfg), mhc_cfg,
                                                                        DType::f64, 5);
  CHECK(test::bitwise_equal(s.param("blocks.1.mlp.conn.bias"), m.param("blocks.1.mlp.conn.bias")));
}

TEST_CASE("mhc_static is mhc with alpha = 0: the same outputs and gradients, coefficients equal for every token",
          "[model][grad]") {
  for (const SublayerKind kind : {SublayerKind::attention, SublayerKind::mlp}) {
    INFO((kind == SublayerKind::attention ? "attention" : "mlp"));
    config::Config static_cfg = test::tiny_config(connection_kind("mhc_static"), 4);
    config::Config mhc_cfg = static_cfg;
    mhc_cfg.residual.type = connection_kind("mhc");
    ParameterStore s(model_parameter_specs(static_cfg), static_cfg, DType::f64, 7);
    ParameterStore m(model_parameter_specs(mhc_cfg), mhc_cfg, DType::f64, 7);
    test::perturb_parameters(s, 0.3);
    test::perturb_parameters(m, 0.3);  // the same values for every shared name (F's weights and the bias)
    const std::string conn = kind == SublayerKind::attention ? "blocks.0.attn.conn" : "blocks.0.mlp.conn";
    fill_constant(m.param(conn + ".alpha"), 0.0);

    ResidualLayer static_layer(static_cfg, s, 0, kind), mhc_layer(mhc_cfg, m, 0, kind);
    const LayerContext sc = static_layer.make_context(kBatch), mc = mhc_layer.make_context(kBatch);
    const Shape xs{kBatch * static_cfg.model.seq_len, 4, static_cfg.model.d_model};
    HostTensor x_in = random_tensor(xs, "x_in"), dx_out = random_tensor(xs, "dx_out");
    HostTensor s_out(DType::f64, xs), m_out(DType::f64, xs), s_dx(DType::f64, xs), m_dx(DType::f64, xs);
    static_layer.forward(sc, x_in, s_out);
    mhc_layer.forward(mc, x_in, m_out);
    static_layer.backward_input(sc, dx_out, s_dx);
    mhc_layer.backward_input(mc, dx_out, m_dx);
    static_layer.backward_weight(sc);
    mhc_layer.backward_weight(mc);

    // The coefficients agree bitwise (the same bias through the same sigmoid and Sinkhorn); the layer outputs and
    // gradients to rounding of the different summation paths (mHC adds its zero coefficient terms).
    for (const char* name : {"h_pre", "h_post", "h_res"}) {
      INFO(name);
      CHECK(test::bitwise_equal(sc.connection[name], mc.connection[name]));
    }
    CHECK(max_abs_diff(s_out, m_out) <= 1e-12);
    CHECK(max_abs_diff(s_dx, m_dx) <= 1e-12);
    int compared = 0;
    for (const auto& spec : s.specs()) {
      if (spec.name.rfind(static_layer.prefix() + ".", 0) != 0) continue;
      INFO(spec.name);
      CHECK(max_abs_diff(s.grad(spec.name), m.grad(spec.name)) <= 1e-12);
      ++compared;
    }
    CHECK(compared == (kind == SublayerKind::attention ? 5 : 4) + 1);

    // Every token has the same coefficients, whatever its stream state: another x gives bitwise the same ones.
    const HostTensor h_res = host_copy(sc.connection["h_res"]);
    const std::int64_t per_token = 16, tokens = xs.dims[0];
    for (std::int64_t t = 1; t < tokens; ++t)
      for (std::int64_t k = 0; k < per_token; ++k) REQUIRE(h_res.get(t * per_token + k) == h_res.get(k));
    HostTensor other_x = random_tensor(xs, "other_x", 3.0), other_out(DType::f64, xs);
    const LayerContext again = static_layer.make_context(kBatch);
    static_layer.forward(again, other_x, other_out);
    CHECK(test::bitwise_equal(again.connection["h_res"], sc.connection["h_res"]));
    CHECK(test::bitwise_equal(again.connection["h_pre"], sc.connection["h_pre"]));
  }
}
