// FLOPs per token from the parameter table.
#include "model/flops.hpp"

#include "model/param_specs.hpp"

namespace mhc::model {

double flops_per_token(const config::Config& cfg) {
  // HC's coefficient map w (C, n + 2) multiplies each of the n streams of a token (ops/cpu/hc_coeffs_cpu.cpp), and
  // its static offsets ar (n, n) are added, not multiplied; every other matrix meets a token once.
  const bool hc = cfg.residual.type == config::ResidualType::hc;
  std::int64_t matmul_params = 0;
  for (const auto& s : model_parameter_specs(cfg)) {
    if (s.shape.rank != 2 || s.name == "embed.weight" || s.init == InitKind::hc_ar) continue;
    const bool per_stream = hc && s.component == Component::connection && s.name.size() > 7 &&
                            s.name.compare(s.name.size() - 7, 7, ".conn.w") == 0;
    matmul_params += s.shape.numel() * (per_stream ? cfg.residual.n_streams : 1);
  }
  if (cfg.model.tie_embeddings) matmul_params += cfg.model.vocab_size * cfg.model.d_model;
  return 6.0 * static_cast<double>(matmul_params) +
         6.0 * static_cast<double>(cfg.model.n_blocks * cfg.model.d_model * cfg.model.seq_len);
}

}  // namespace mhc::model
