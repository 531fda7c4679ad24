// Selective recomputation (spec 5): bitwise-equal losses, gradients and x_l with recompute on and off, and the
// measured activation bytes against the plan's prediction.
#include <catch2/catch.hpp>

#include <vector>

#include "support/connection_kinds.hpp"
#include "core/rng.hpp"
#include "model/model.hpp"
#include "model_test_util.hpp"
#include "support/gradcheck.hpp"

using namespace mhc;
using namespace mhc::model;

namespace {

constexpr std::int64_t kBatch = 2;

config::Config recompute_config(model::ConnectionType type, bool on, const std::string& block_layers,
                                Precision precision = Precision::fp32) {
  config::Config cfg = test::tiny_config(type, type->default_streams(), 3);  // L = 6 residual layers
  cfg.recompute.mhc = on;
  cfg.recompute.block_layers = block_layers;
  cfg.train.precision = precision;
  return cfg;
}

HostTensor random_tokens(const config::Config& cfg, std::uint64_t seed) {
  return test::random_tokens(cfg, kBatch, seed);
}

// p -= 0.05 g for every parameter (the same arithmetic in both models, so their weights stay bitwise equal).
void sgd_step(Model& m) {
  for (const auto& s : m.store().specs()) {
    const Tensor p = m.store().param(s.name), g = m.store().grad(s.name);
    for (std::int64_t k = 0; k < p.numel(); ++k) p.ptr<float>()[k] -= 0.05f * g.ptr<float>()[k];
  }
}

}  // namespace

TEST_CASE("recompute on and off give bitwise-equal losses and gradients over several steps", "[recompute][model]") {
  for (const model::ConnectionType type : model::connection_kinds()) {
    for (const auto& [lr, precision] : {std::pair{"1", Precision::fp32}, {"2", Precision::fp32}, {"4", Precision::fp32},
                                        {"auto", Precision::fp32}, {"stage", Precision::fp32}, {"2", Precision::bf16},
                                        {"stage", Precision::bf16}}) {
      INFO("type " << type->name() << ", block_layers " << lr << ", precision " << config::to_string(precision));
      Model off(recompute_config(type, false, lr, precision), DType::f32, 5, kBatch);
      Model on(recompute_config(type, true, lr, precision), DType::f32, 5, kBatch);
      CHECK(on.recompute() == (type != model::connection_kind("residual")));
      CHECK_FALSE(off.recompute());
      for (std::int64_t step = 0; step < 3; ++step) {
        off.store().zero_grads();
        on.store().zero_grads();
        for (std::int64_t micro = 0; micro < 2; ++micro) {
          const HostTensor tokens =
              random_tokens(recompute_config(type, false, lr), static_cast<std::uint64_t>(step * 2 + micro));
          const double loss_off = off.forward_backward(tokens.view(), 0.5);
          const double loss_on = on.forward_backward(tokens.view(), 0.5);
          REQUIRE(loss_off == loss_on);
        }
        for (const auto& s : off.store().specs()) {
          INFO("step " << step << " gradient " << s.name);
          REQUIRE(test::bitwise_equal(off.store().grad(s.name), on.store().grad(s.name)));
        }
        sgd_step(off);
        sgd_step(on);
      }
    }
  }
}

TEST_CASE("auto and stage resolve L_r as spec 5 says", "[recompute][model]") {
  config::Config cfg = recompute_config(model::connection_kind("mhc"), true, "auto");
  CHECK(recompute_block_layers(cfg, 2 * cfg.model.n_blocks) == 2);  // round(sqrt(4 * 6 / 6))
  cfg.model.n_blocks = 24;                        // L = 48: sqrt(32) = 5.66
  CHECK(recompute_block_layers(cfg, 2 * cfg.model.n_blocks) == 6);
  cfg.recompute.block_layers = "stage";
  CHECK(recompute_block_layers(cfg, 2 * cfg.model.n_blocks) == 48);
  cfg.recompute.block_layers = "100";
  CHECK(recompute_block_layers(cfg, 2 * cfg.model.n_blocks) == 48);
  cfg.recompute.block_layers = "3";
  CHECK(recompute_block_layers(cfg, 2 * cfg.model.n_blocks) == 3);
}

TEST_CASE("the recomputed x_l and H_res equal the forward's bitwise", "[recompute][model]") {
  for (const model::ConnectionType type : test::stream_kinds()) {
    for (const std::string lr : {"1", "2", "4", "stage"}) {
      INFO("type " << type->name() << ", block_layers " << lr);
      const config::Config cfg_off = recompute_config(type, false, lr), cfg_on = recompute_config(type, true, lr);
      Model off(cfg_off, DType::f32, 9, kBatch);
      Model on(cfg_on, DType::f32, 9, kBatch);
      const HostTensor tokens = random_tokens(cfg_off, 77);
      REQUIRE(off.forward_loss(tokens.view()) == on.forward_loss(tokens.view()));
      const std::int64_t L = 6, Lr = on.block_layers(), blocks = (L + Lr - 1) / Lr;
      std::int64_t layers_seen = 0;
      for (std::int64_t b = blocks; b-- > 0;) {  // the backward's order
        const auto x_off = off.layer_inputs(b), x_on = on.layer_inputs(b);
        REQUIRE(x_off.size() == x_on.size());
        for (std::size_t j = 0; j < x_on.size(); ++j) {
          INFO("block " << b << " layer " << j);
          CHECK(test::bitwise_equal(x_off[j], x_on[j]));
        }
        layers_seen += static_cast<std::int64_t>(x_on.size());
      }
      CHECK(layers_seen == L);
      const auto h_off = off.last_h_res(), h_on = on.last_h_res();
      REQUIRE(h_on.size() == static_cast<std::size_t>(L));
      for (std::size_t l = 0; l < h_on.size(); ++l) CHECK(test::bitwise_equal(h_off[l], h_on[l]));
    }
  }
}

TEST_CASE("measured activation bytes per micro-batch equal the plan's prediction", "[recompute][model]") {
  for (const model::ConnectionType type : model::connection_kinds()) {
    for (const std::string lr : {"1", "2", "auto", "stage"}) {
      for (const auto& [on, precision] : {std::pair{false, Precision::fp32}, {true, Precision::fp32},
                                          {false, Precision::bf16}, {true, Precision::bf16}}) {
        INFO("type " << type->name() << ", block_layers " << lr << ", recompute " << on << ", precision "
                     << config::to_string(precision));
        const config::Config cfg = recompute_config(type, on, lr, precision);
        for (const DType dtype : {DType::f32, DType::f64}) {
          const Model m(cfg, dtype, 1, kBatch);
          CHECK(m.activation_bytes() == Model::predicted_activation_bytes(cfg, dtype, kBatch, on));
        }
      }
    }
  }
}

TEST_CASE("recompute keeps L_r connection states and F inputs, the block inputs and the F outputs",
          "[recompute][model]") {
  // docs/math.md: off = buffers + sum_l F_l + L K;
  // on = buffers + sum_l (F_l - I) + L_r (K - T - y + I) - x + T + s N (nC ceil(L / L_r) + C L).
  // Every arena entry is padded on its own, so the byte counts of the parts add up exactly.
  config::Config cfg = recompute_config(model::connection_kind("mhc"), true, "auto");
  cfg.model.d_model = 64;
  cfg.model.seq_len = 4;
  cfg.model.n_blocks = 8;  // L = 16, L_r = round(sqrt(64 / 6)) = 3, 6 blocks
  const std::int64_t N = kBatch * 4, C = 64, n = 4, L = 16, s = 4;
  const std::int64_t Lr = recompute_block_layers(cfg, 2 * cfg.model.n_blocks);
  REQUIRE(Lr == 3);
  const ContextLayout conn = cfg.residual.type->activation_layout(cfg, DType::f32, kBatch);
  const std::int64_t K = Arena::bytes_needed(conn.specs);
  const std::int64_t T = Arena::bytes_needed(specs_named(conn.specs, conn.names(EntryRole::transient)));
  const std::int64_t I = Arena::bytes_needed(specs_named(mlp_activation_specs(cfg, DType::f32, kBatch),
                                                         Sublayer::input_entries()));
  CHECK(I == Arena::bytes_needed(specs_named(attention_activation_specs(cfg, DType::f32, kBatch),
                                             Sublayer::input_entries())));
  const std::int64_t y = s * N * C, x = s * N * n * C;  // multiples of the alignment: no padding
  const std::int64_t off = Model::predicted_activation_bytes(cfg, DType::f32, kBatch, false);
  const std::int64_t on = Model::predicted_activation_bytes(cfg, DType::f32, kBatch, true);
  CHECK(on - off == -(L - Lr) * (K + I) - Lr * (T + y) - x + T + s * N * (n * C * 6 + C * L));
  CHECK(on < off);
  const Model m(cfg, DType::f32, 1, kBatch);
  CHECK(m.activation_bytes() == on);
}

TEST_CASE("an activation context takes views for named entries and owns the rest", "[recompute][model]") {
  const std::vector<TensorSpec> layout{{"a", DType::f32, Shape{8, 4}}, {"b", DType::f32, Shape{8}}};
  const ActivationContext owner("owner", layout);
  const ActivationContext user("user", layout, TensorViews{{"a", owner["a"]}});
  CHECK(user["a"].data == owner["a"].data);
  CHECK(user["b"].data != owner["b"].data);
  CHECK(user.bytes_held() == Arena::bytes_needed(specs_named(layout, {"b"})));
  CHECK_THROWS_WITH(ActivationContext("bad", layout, TensorViews{{"a", owner["b"]}}),
                    Catch::Contains("bad") && Catch::Contains("view a"));
  CHECK_THROWS_AS(ActivationContext("bad", layout, TensorViews{{"a", owner["b"]}}), ShapeError);
  CHECK_THROWS_WITH(ActivationContext("bad", layout, TensorViews{{"c", owner["a"]}}),
                    Catch::Contains("view c is not in the layout"));
}

TEST_CASE("W reads none of the connection's transient entries, so layers may share them", "[recompute][model]") {
  for (const model::ConnectionType type : test::stream_kinds()) {
    for (const auto kind : {SublayerKind::attention, SublayerKind::mlp}) {
      INFO("type " << type->name() << (kind == SublayerKind::attention ? " attention" : " mlp"));
      const config::Config cfg = test::tiny_config(type, 4);
      ParameterStore store(model_parameter_specs(cfg), cfg, DType::f64, 3);
      ResidualLayer layer(cfg, store, 0, kind);
      const std::int64_t N = kBatch * cfg.model.seq_len, n = 4, C = cfg.model.d_model;
      const HostTensor x = test::random_tensor(Shape{N, n, C}, "x"), dx_out = test::random_tensor(Shape{N, n, C}, "g");
      HostTensor x_out(DType::f64, Shape{N, n, C}), dx_in(DType::f64, Shape{N, n, C});
      std::vector<HostTensor> grads;
      for (const bool clobber : {false, true}) {
        const LayerContext ctx = layer.make_context(kBatch);
        store.zero_grads();
        layer.forward(ctx, x.view(), x_out.view());
        layer.backward_input(ctx, dx_out.view(), dx_in.view());
        if (clobber)
          for (const auto& name : cfg.residual.type->activation_layout(cfg, DType::f64, kBatch).names(
                   EntryRole::transient))
            fill_constant(ctx.connection[name], 1e30);
        layer.backward_weight(ctx);
        for (const auto& s : store.specs()) grads.push_back(test::host_copy(store.grad(s.name)));
      }
      const std::size_t half = grads.size() / 2;
      for (std::size_t k = 0; k < half; ++k) CHECK(test::bitwise_equal(grads[k].view(), grads[half + k].view()));
    }
  }
}
