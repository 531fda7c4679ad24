// model::step_gemm_shapes (what `bench ops` times) and model::flops_per_token (what `bench step` and the trainer
// report) describe the same products: the GEMM FLOPs of a micro-batch step are 6 x the matrix parameters per token.
#include <catch2/catch.hpp>

#include "model/flops.hpp"
#include "model/gemm_shapes.hpp"
#include "model_test_util.hpp"

using namespace mhc;

TEST_CASE("the step GEMM shapes carry 6 x the matrix parameters' FLOPs per token", "[model]") {
  for (const auto type : model::connection_kinds()) {
    for (const auto merge : {config::HeadMerge::sum, config::HeadMerge::gate}) {
      if (type == model::connection_kind("residual") && merge == config::HeadMerge::gate) continue;
      config::Config cfg = test::tiny_config(type, type->default_streams(), 3);
      cfg.residual.head_merge = merge;
      INFO(type->name() << " head_merge " << config::to_string(merge));
      const auto& m = cfg.model;
      const double tokens = static_cast<double>(cfg.train.micro_batch * m.seq_len);
      double gemm = 0;
      for (const auto& g : model::step_gemm_shapes(cfg)) gemm += g.flops() * static_cast<double>(g.count);
      if (type == model::connection_kind("mhc")) {  // the forward projection is the fused RMS + projection kernel
        const double n = static_cast<double>(cfg.residual.n_streams), K = n * n + 2 * n;
        gemm += 2.0 * tokens * n * static_cast<double>(m.d_model) * K * 2.0 * static_cast<double>(m.n_blocks);
      }
      const double attention = 6.0 * static_cast<double>(m.n_blocks * m.d_model * m.seq_len);
      CHECK(gemm / tokens == Approx(model::flops_per_token(cfg) - attention).epsilon(1e-12));
    }
  }
}
