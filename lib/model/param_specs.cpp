// Builds the parameter table from a config (spec sections 1-2: shapes, init rules, decay rules).
#include "model/param_specs.hpp"

#include <cmath>

#include "model/connection_kind.hpp"
#include "model/sublayer.hpp"

namespace mhc::model {

std::string_view component_name(Component c) {
  switch (c) {
    case Component::embedding: return "embedding";
    case Component::attention: return "attention";
    case Component::mlp: return "mlp";
    case Component::norm: return "norm";
    case Component::connection: return "connection";
    case Component::head: return "head";
  }
  return "?";
}

double output_init_std(const config::Config& cfg) {
  return kInitStd / std::sqrt(2.0 * static_cast<double>(cfg.model.n_blocks));
}

std::vector<ParamSpec> model_parameter_specs(const config::Config& cfg) {
  const auto& m = cfg.model;
  const std::int64_t C = m.d_model, V = m.vocab_size, n = cfg.residual.n_streams;
  std::vector<ParamSpec> specs;
  const auto append = [&](std::vector<ParamSpec> part) {
    for (ParamSpec& s : part) specs.push_back(std::move(s));
  };
  specs.push_back({"embed.weight", Shape{V, C}, Component::embedding, InitKind::normal, kInitStd, true, -1, -1});
  for (std::int64_t b = 0; b < m.n_blocks; ++b) {
    const std::string blk = "blocks." + std::to_string(b);
    const std::int64_t attn = 2 * b, mlp = 2 * b + 1;
    append(attention_parameter_specs(cfg, blk + ".attn", b, attn));
    append(cfg.residual.type->parameter_specs(cfg, blk + ".attn.conn", b, attn));
    append(mlp_parameter_specs(cfg, blk + ".mlp", b, mlp));
    append(cfg.residual.type->parameter_specs(cfg, blk + ".mlp.conn", b, mlp));
  }
  if (cfg.residual.head_merge == config::HeadMerge::gate) {
    specs.push_back({"head_merge.phi", Shape{n * C, n}, Component::connection, InitKind::gate_phi, 0.0, true, -1, -1});
    specs.push_back({"head_merge.alpha", Shape{1}, Component::connection, InitKind::gate_alpha, 0.0, false, -1, -1});
    specs.push_back({"head_merge.bias", Shape{n}, Component::connection, InitKind::zeros, 0.0, false, -1, -1});
  }
  specs.push_back({"final_norm.weight", Shape{C}, Component::norm, InitKind::ones, 0.0, false, -1, -1});
  if (!m.tie_embeddings)
    specs.push_back({"lm_head.weight", Shape{V, C}, Component::head, InitKind::normal, kInitStd, true, -1, -1});
  return specs;
}

bool has_leaf(const ParamSpec& spec, std::string_view leaf) {
  const std::string_view name = spec.name;
  return name.size() > leaf.size() && name.substr(name.size() - leaf.size()) == leaf &&
         name[name.size() - leaf.size() - 1] == '.';
}

std::string parent_name(const std::string& name) { return name.substr(0, name.rfind('.')); }

ops::MhcInit mhc_init_of(const config::Config& cfg) {
  ops::MhcInit init;
  init.n = static_cast<int>(cfg.residual.n_streams);
  init.alpha_init = cfg.residual.alpha_init;
  init.bias = cfg.residual.bias_init;
  init.phi = cfg.residual.phi_init;
  return init;
}

std::int64_t count_parameters(const std::vector<ParamSpec>& specs, Component c) {
  std::int64_t total = 0;
  for (const auto& s : specs)
    if (s.component == c) total += s.shape.numel();
  return total;
}

std::int64_t count_parameters(const std::vector<ParamSpec>& specs) {
  std::int64_t total = 0;
  for (const auto& s : specs) total += s.shape.numel();
  return total;
}

}  // namespace mhc::model
