// FLOPs per token from the parameter table.
#include "model/flops.hpp"

#include "model/connection_kind.hpp"
#include "model/param_specs.hpp"

namespace mhc::model {

double flops_per_token(const config::Config& cfg) {
  // Every matrix outside the connections meets a token once; each connection counts its own products.
  std::int64_t matmul_params = 0;
  for (const auto& s : model_parameter_specs(cfg)) {
    if (s.shape.rank != 2 || s.name == "embed.weight" || s.init == InitKind::connection) continue;
    matmul_params += s.shape.numel();
  }
  matmul_params += 2 * cfg.model.n_blocks * cfg.residual.type->macs_per_token(cfg);
  if (cfg.model.tie_embeddings) matmul_params += cfg.model.vocab_size * cfg.model.d_model;
  return 6.0 * static_cast<double>(matmul_params) +
         6.0 * static_cast<double>(cfg.model.n_blocks * cfg.model.d_model * cfg.model.seq_len);
}

}  // namespace mhc::model
