// `mhc-train plan`: the resolved config, parameter counts per component and a static memory estimate.
#include <cstdio>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "model/model.hpp"
#include "model/param_specs.hpp"

namespace mhc::app {

namespace {

std::string human_bytes(std::int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
  return buf;
}

void print_plan(const config::Config& cfg) {
  std::cout << "resolved config:\n" << config::to_json(cfg).dump(2) << "\n\n";

  const auto specs = model::model_parameter_specs(cfg);
  const std::int64_t total = model::count_parameters(specs);
  std::cout << "parameters by component:\n";
  for (auto c : {model::Component::embedding, model::Component::attention, model::Component::mlp,
                 model::Component::norm, model::Component::connection, model::Component::head}) {
    const std::int64_t k = model::count_parameters(specs, c);
    std::printf("  %-12s %14lld  (%5.2f%%)\n", std::string(model::component_name(c)).c_str(),
                static_cast<long long>(k), total ? 100.0 * static_cast<double>(k) / static_cast<double>(total) : 0.0);
  }
  std::printf("  %-12s %14lld  in %zu tensors\n\n", "total", static_cast<long long>(total), specs.size());

  // fp32 parameters, fp32 gradients, two fp32 AdamW moments; fp32 activations of one micro-batch in flight
  // (exactly what Model::activation_bytes() measures; docs/math.md "Selective recomputation").
  const std::int64_t param_bytes = 4 * total, batch = cfg.train.micro_batch;
  const std::int64_t act_off = model::Model::predicted_activation_bytes(cfg, DType::f32, batch, false);
  const std::int64_t act_on = model::Model::predicted_activation_bytes(cfg, DType::f32, batch, true);
  const bool recompute = cfg.recompute.mhc && cfg.residual.type != config::ResidualType::residual;
  std::cout << "memory (per data-parallel replica, all stages together):\n"
            << "  parameters        " << human_bytes(param_bytes) << "\n"
            << "  gradients         " << human_bytes(param_bytes) << "\n"
            << "  optimizer state   " << human_bytes(2 * param_bytes) << "\n"
            << "  activations per micro-batch of " << batch << " sequences:\n"
            << "    recompute off   " << human_bytes(act_off) << " (" << act_off << " B)\n"
            << "    recompute on    " << human_bytes(act_on) << " (" << act_on << " B), L_r = "
            << model::Model::resolve_block_layers(cfg) << " of " << 2 * cfg.model.n_blocks
            << " residual layers (recompute.block_layers \"" << cfg.recompute.block_layers << "\")\n"
            << "    this config     recompute " << (recompute ? "on" : "off") << "\n";
}

}  // namespace

void register_plan(CLI::App& app) {
  auto flags = std::make_shared<CommonFlags>();
  auto* plan = app.add_subcommand("plan", "print the resolved config, parameter counts and memory estimate");
  add_common_flags(plan, *flags);
  plan->callback([flags] { print_plan(load_config_from_flags(*flags)); });
}

}  // namespace mhc::app
