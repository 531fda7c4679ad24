// The model under train.precision "bf16": f32 master weights with bf16 copies for the matmuls, the coefficient path
// and the streams in f32, deterministic runs.
#include <catch2/catch.hpp>

#include <set>

#include "model/model.hpp"
#include "model_test_util.hpp"
#include "support/connection_kinds.hpp"
#include "support/mhc_inputs.hpp"

using namespace mhc;
using namespace mhc::model;

namespace {

constexpr std::int64_t kBatch = 2;

config::Config bf16_config(ConnectionType type, Precision precision) {
  config::Config cfg = test::tiny_config(type, type->default_streams(), 2);
  cfg.model.d_model = 16;
  cfg.train.precision = precision;
  return cfg;
}

}  // namespace

TEST_CASE("bf16: the coefficient path and the streams stay f32 (H_res of the first layer is fp32's, bit for bit)",
          "[model][bf16]") {
  const HostTensor tokens = test::random_tokens(bf16_config(connection_kind("mhc"), Precision::fp32), kBatch, 3);
  for (const ConnectionType type : test::stream_kinds()) {
    INFO("type " << type->name());
    Model fp32(bf16_config(type, Precision::fp32), DType::f32, 4, kBatch);
    Model bf16(bf16_config(type, Precision::bf16), DType::f32, 4, kBatch);
    // The same model with x_0 (the embedding rows) rounded to bf16: what a coefficient path that consumed bf16
    // streams would see. Its H_res differs, so the equality below can fail. The noise makes HC's dynamic part,
    // zero at init, depend on x.
    Model rounded(bf16_config(type, Precision::fp32), DType::f32, 4, kBatch);
    for (Model* m : {&fp32, &bf16, &rounded}) test::perturb_parameters(m->store(), 0.1);
    const Tensor embed = rounded.store().param("embed.weight");
    ops::convert_dtype(embed, test::to_dtype(test::host_copy(embed), DType::bf16));
    const double loss32 = fp32.forward_loss(tokens.view()), loss16 = bf16.forward_loss(tokens.view());
    rounded.forward_loss(tokens.view());
    CHECK(loss16 != loss32);  // the bf16 path is active
    const auto h32 = fp32.last_h_res(), h16 = bf16.last_h_res(), h_rounded = rounded.last_h_res();
    REQUIRE(h16.size() == 4);
    for (const Tensor& h : h16) CHECK(h.dtype == DType::f32);
    if (type->name() == "mhc_static") {  // static mappings: the same H_res for every input
      for (std::size_t l = 0; l < h16.size(); ++l) CHECK(test::bitwise_equal(h16[l], h32[l]));
      continue;
    }
    CHECK(test::bitwise_equal(h16[0], h32[0]));
    CHECK_FALSE(test::bitwise_equal(h_rounded[0], h32[0]));
    CHECK_FALSE(test::bitwise_equal(h16[3], h32[3]));  // later layers read the bf16 sublayers' outputs
  }
}

TEST_CASE("bf16: masters stay f32, the matmuls read their bf16 rounding, refreshed at each forward", "[model][bf16]") {
  const config::Config cfg = bf16_config(connection_kind("mhc"), Precision::bf16);
  Model m(cfg, DType::f32, 6, kBatch);
  const HostTensor tokens = test::random_tokens(cfg, kBatch, 5);
  std::set<Component> copied;
  for (const bool perturbed : {false, true}) {
    if (perturbed) test::perturb_parameters(m.store(), 0.01);  // an update between two forwards
    m.forward_loss(tokens.view());
    for (const auto& s : m.store().specs()) {
      INFO(s.name << (perturbed ? " after an update" : ""));
      const Tensor value = m.store().param(s.name), operand = m.store().matmul_operand(s.name);
      CHECK(value.dtype == DType::f32);
      if (!ParameterStore::has_bf16_copy(s, cfg, DType::f32)) {
        CHECK(operand.data == value.data);
        continue;
      }
      copied.insert(s.component);
      CHECK(operand.dtype == DType::bf16);
      CHECK(test::bitwise_equal(operand, test::to_dtype(test::host_copy(value), DType::bf16)));
    }
  }
  CHECK(copied == std::set<Component>{Component::attention, Component::mlp});
  CHECK(m.store().bf16_copy_bytes() == ParameterStore::bf16_copy_arena_bytes(m.store().specs(), cfg, DType::f32));
  CHECK(m.store().bf16_copy_bytes() > 0);
  // No copies in fp32, nor in the f64 gradient oracle.
  CHECK(ParameterStore::bf16_copy_arena_bytes(m.store().specs(), bf16_config(connection_kind("mhc"), Precision::fp32),
                                              DType::f32) == 0);
  CHECK(ParameterStore::bf16_copy_arena_bytes(m.store().specs(), cfg, DType::f64) == 0);
}

TEST_CASE("bf16: the same seed gives bit-identical losses and gradients", "[model][bf16]") {
  for (const ConnectionType type : connection_kinds()) {
    INFO("type " << type->name());
    const config::Config cfg = bf16_config(type, Precision::bf16);
    Model a(cfg, DType::f32, 8, kBatch), b(cfg, DType::f32, 8, kBatch);
    const HostTensor tokens = test::random_tokens(cfg, kBatch, 9);
    CHECK(a.forward_backward(tokens.view(), 1.0) == b.forward_backward(tokens.view(), 1.0));
    for (const auto& s : a.store().specs()) {
      INFO(s.name);
      CHECK(test::bitwise_equal(a.store().grad(s.name), b.store().grad(s.name)));
    }
  }
}
