// config::parameter_count and min_run_bytes (behind the size limits) against the parameter table and the activation
// bytes the model predicts for itself.
#include <catch2/catch.hpp>

#include "config/sizes.hpp"
#include "model/model.hpp"
#include "model/param_specs.hpp"
#include "model_test_util.hpp"

using namespace mhc;

TEST_CASE("config::parameter_count equals the model's parameter table for every connection and head", "[model]") {
  for (const auto type : model::connection_kinds()) {
    for (const std::int64_t n : {std::int64_t{1}, std::int64_t{3}}) {
      if (type == model::connection_kind("residual") && n != 1) continue;
      for (const bool tied : {false, true}) {
        config::Config cfg = test::tiny_config(type, n, 3);
        cfg.model.tie_embeddings = tied;
        if (n > 1) cfg.residual.head_merge = tied ? config::HeadMerge::gate : config::HeadMerge::sum;
        INFO(type->name() << " n " << n << " tied " << tied);
        CHECK(config::parameter_count(cfg) == model::count_parameters(model::model_parameter_specs(cfg)));
      }
    }
  }
}

TEST_CASE("config::min_run_bytes is at most what the model holds, with and without recomputation", "[model]") {
  for (const auto type : model::connection_kinds()) {
    for (const bool recompute : {false, true}) {
      if (type == model::connection_kind("residual") && recompute) continue;
      config::Config cfg = test::tiny_config(type, type->default_streams(), 4);
      cfg.recompute.mhc = recompute;
      cfg.recompute.block_layers = "stage";  // the fewest saved states
      const std::int64_t batch = 3;
      const std::int64_t params = model::count_parameters(model::model_parameter_specs(cfg));
      const std::int64_t held =
          16 * params + model::Model::predicted_activation_bytes(cfg, DType::f32, batch, recompute);
      INFO(type->name() << " recompute " << recompute);
      CHECK(config::min_run_bytes(cfg, 16, batch) <= held);
      CHECK(config::min_run_bytes(cfg, 16, batch) > 16 * params);
    }
  }
}
