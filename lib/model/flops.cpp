// FLOPs per token from the parameter table.
#include "model/flops.hpp"

#include "model/param_specs.hpp"

namespace mhc::model {

double flops_per_token(const config::Config& cfg) {
  std::int64_t matmul_params = 0;
  for (const auto& s : model_parameter_specs(cfg))
    if (s.shape.rank == 2 && s.name != "embed.weight") matmul_params += s.shape.numel();
  if (cfg.model.tie_embeddings) matmul_params += cfg.model.vocab_size * cfg.model.d_model;
  return 6.0 * static_cast<double>(matmul_params) +
         12.0 * static_cast<double>(cfg.model.n_blocks * cfg.model.d_model * cfg.model.seq_len);
}

}  // namespace mhc::model
