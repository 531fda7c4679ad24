// Registration of the mhc-train subcommands; each registers its flags and a callback that does the work.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "config/config.hpp"

namespace mhc::app {

// Flags every config-driven subcommand takes.
struct CommonFlags {
  std::string config_path;         // --config; empty = the embedded default
  std::vector<std::string> sets;   // --set key=value, repeatable
  std::string out_dir;             // --out RUN_DIR (train, plan)
};

// --config and --set; add_out_flag adds --out RUN_DIR for the commands that use it (train, plan).
void add_common_flags(CLI::App* cmd, CommonFlags& flags);
void add_out_flag(CLI::App* cmd, CommonFlags& flags, const std::string& help);
// Flag checks: a number that is not NaN or infinite; a path that is not "" (which would mean the working directory).
CLI::Validator finite_number();
CLI::Validator non_empty_path();
// The config of --config and --set; its notices (a clamped train.warmup) go to *notices, or to the log when null.
config::Config load_config_from_flags(const CommonFlags& flags, std::vector<std::string>* notices = nullptr);

void register_plan(CLI::App& app);
void register_bench(CLI::App& app);
// Adds `bench step` to the `bench` subcommand (register_bench first).
void register_bench_step(CLI::App& app);
void register_data(CLI::App& app);
void register_train(CLI::App& app);
void register_inference(CLI::App& app);
void register_types(CLI::App& app);

}  // namespace mhc::app
