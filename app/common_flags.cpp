// The --config / --set (and --out) flags shared by the config-driven subcommands.
#include <cmath>
#include <cstdlib>

#include <spdlog/spdlog.h>

#include "commands.hpp"

namespace mhc::app {

void add_common_flags(CLI::App* cmd, CommonFlags& flags) {
  cmd->add_option("--config", flags.config_path, "JSON config file (default: the embedded tiny mHC config)")
      ->check(non_empty_path());
  cmd->add_option("--set", flags.sets, "override a config key, e.g. --set train.lr=1e-3 (repeatable)")
      ->type_name("KEY=VALUE")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

void add_out_flag(CLI::App* cmd, CommonFlags& flags, const std::string& help) {
  cmd->add_option("--out", flags.out_dir, help)->type_name("RUN_DIR")->check(non_empty_path());
}

CLI::Validator finite_number() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        const bool parsed = end != text.c_str() && *end == '\0';
        return parsed && !std::isfinite(v) ? "must be a finite number, got " + text : "";
      },
      "", "FINITE");
}

CLI::Validator non_empty_path() {
  return CLI::Validator([](std::string& text) -> std::string { return text.empty() ? "must not be empty" : ""; },
                        "", "NON_EMPTY");
}

config::Config load_config_from_flags(const CommonFlags& flags, std::vector<std::string>* notices) {
  if (notices != nullptr) return config::load_config(flags.config_path, flags.sets, notices);
  std::vector<std::string> shown;
  config::Config cfg = config::load_config(flags.config_path, flags.sets, &shown);
  for (const auto& notice : shown) spdlog::warn("{}", notice);
  return cfg;
}

}  // namespace mhc::app
