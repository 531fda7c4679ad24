// The --config / --set / --out flags shared by the config-driven subcommands.
#include "commands.hpp"

namespace mhc::app {

void add_common_flags(CLI::App* cmd, CommonFlags& flags) {
  cmd->add_option("--config", flags.config_path, "JSON config file (default: the embedded tiny mHC config)");
  cmd->add_option("--set", flags.sets, "override a config key, e.g. --set train.lr=1e-3 (repeatable)")
      ->type_name("KEY=VALUE")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--out", flags.out_dir, "run directory for outputs")->type_name("RUN_DIR");
}

config::Config load_config_from_flags(const CommonFlags& flags) {
  return config::load_config(flags.config_path, flags.sets);
}

}  // namespace mhc::app
