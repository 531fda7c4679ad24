// config::parameter_count (the closed form behind the size limits) against the parameter table the model builds.
#include <catch2/catch.hpp>

#include "config/sizes.hpp"
#include "model/param_specs.hpp"
#include "model_test_util.hpp"

using namespace mhc;

TEST_CASE("config::parameter_count equals the model's parameter table for every connection and head", "[model]") {
  using RT = config::ResidualType;
  for (const auto type : {RT::residual, RT::hc, RT::mhc}) {
    for (const std::int64_t n : {std::int64_t{1}, std::int64_t{3}}) {
      if (type == RT::residual && n != 1) continue;
      for (const bool tied : {false, true}) {
        config::Config cfg = test::tiny_config(type, n, 3);
        cfg.model.tie_embeddings = tied;
        if (n > 1) cfg.residual.head_merge = tied ? config::HeadMerge::gate : config::HeadMerge::sum;
        INFO(config::to_string(type) << " n " << n << " tied " << tied);
        CHECK(config::parameter_count(cfg) == model::count_parameters(model::model_parameter_specs(cfg)));
      }
    }
  }
}
