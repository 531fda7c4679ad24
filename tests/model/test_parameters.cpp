// Tests of the ParameterStore: per-name deterministic init independent of the subset held, init rules, lookups.
#include <catch2/catch.hpp>

#include "model/parameters.hpp"
#include "model_test_util.hpp"

using namespace mhc;
using namespace mhc::model;

TEST_CASE("ParameterStore init depends only on (seed, name): a pipeline subset has identical values", "[model]") {
  for (const auto type : model::connection_kinds()) {
    const config::Config cfg = test::tiny_config(type, type->default_streams(), 3);
    const auto all = model_parameter_specs(cfg);
    for (const DType dtype : {DType::f32, DType::f64}) {
      ParameterStore full(all, cfg, dtype, 11);
      ParameterStore again(all, cfg, dtype, 11);
      ParameterStore stage(block_parameter_specs(all, 1, 3), cfg, dtype, 11);
      ParameterStore other_seed(all, cfg, dtype, 12);
      CHECK_FALSE(stage.contains("blocks.0.attn.wq"));
      CHECK_FALSE(stage.contains("embed.weight"));
      for (const auto& s : all) {
        INFO(s.name);
        CHECK(test::bitwise_equal(full.param(s.name), again.param(s.name)));
        if (stage.contains(s.name)) CHECK(test::bitwise_equal(full.param(s.name), stage.param(s.name)));
        if (s.init == InitKind::normal || (s.init == InitKind::connection && has_leaf(s, "phi")))
          CHECK_FALSE(test::bitwise_equal(full.param(s.name), other_seed.param(s.name)));
        const HostTensor g = test::host_copy(full.grad(s.name));
        for (std::int64_t k = 0; k < g.numel(); ++k) REQUIRE(g.get(k) == 0.0);
      }
      CHECK(stage.parameter_bytes() < full.parameter_bytes());
      CHECK(full.gradient_bytes() == full.parameter_bytes());
    }
  }
}

TEST_CASE("ParameterStore applies the init rules of the spec", "[model]") {
  config::Config cfg = test::tiny_config(model::connection_kind("mhc"), 4, 2);
  ParameterStore mhc(model_parameter_specs(cfg), cfg, DType::f64, 3);
  // layer 3 = block 1 MLP: home stream 3, b_pre = -3 except +3 there, b_post = 0, b_res = 6I - 3.
  const HostTensor bias = test::host_copy(mhc.param("blocks.1.mlp.conn.bias"));
  for (std::int64_t i = 0; i < 4; ++i) CHECK(bias.get(i) == (i == 3 ? 3.0 : -3.0));
  for (std::int64_t i = 4; i < 8; ++i) CHECK(bias.get(i) == 0.0);
  CHECK(bias.get(8) == 3.0);
  CHECK(bias.get(9) == -3.0);
  const HostTensor alpha = test::host_copy(mhc.param("blocks.0.attn.conn.alpha"));
  for (std::int64_t i = 0; i < 3; ++i) CHECK(alpha.get(i) == cfg.residual.alpha_init);
  const HostTensor norm = test::host_copy(mhc.param("blocks.0.attn.norm.weight"));
  for (std::int64_t i = 0; i < norm.numel(); ++i) CHECK(norm.get(i) == 1.0);
  CHECK_THROWS_AS(mhc.param("blocks.9.attn.wq"), ConfigError);
  CHECK_THROWS_AS(mhc.grad("nope"), ConfigError);

  cfg = test::tiny_config(model::connection_kind("hc"), 4, 2);
  ParameterStore hc(model_parameter_specs(cfg), cfg, DType::f32, 3);
  const HostTensor am = test::host_copy(hc.param("blocks.1.attn.conn.am"));  // layer 2: one-hot at stream 2
  for (std::int64_t i = 0; i < 4; ++i) CHECK(am.get(i) == (i == 2 ? 1.0 : 0.0));
  const HostTensor ar = test::host_copy(hc.param("blocks.1.attn.conn.ar"));
  for (std::int64_t k = 0; k < 16; ++k) CHECK(ar.get(k) == (k % 5 == 0 ? 1.0 : 0.0));
  const HostTensor s = test::host_copy(hc.param("blocks.0.mlp.conn.s"));
  CHECK(s.get(0) == Approx(0.01));
}

TEST_CASE("ParameterStore holds only f32 parameters on the GPU", "[model]") {
  const config::Config cfg = test::tiny_config(model::connection_kind("mhc"), 4, 2);
  // Refused before any device memory is asked for, so this runs without a GPU.
  CHECK_THROWS_WITH(ParameterStore(model_parameter_specs(cfg), cfg, DType::f64, 3, Device::cuda),
                    Catch::Contains("the CUDA backend holds f32 parameters, got f64"));
}
