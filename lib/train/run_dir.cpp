// Run-directory checks before a new run starts.
#include "train/run_dir.hpp"

#include <filesystem>

#include "core/error.hpp"

namespace mhc::train {

namespace fs = std::filesystem;

namespace {

// Everything Trainer::run writes into a run directory.
const char* const kRunFiles[] = {"config.resolved.json", "metrics.jsonl", "checkpoints", "stopped.json",
                                 "trace.json", "run.json"};

}  // namespace

std::vector<std::string> run_files_in(const std::string& run_dir) {
  std::vector<std::string> found;
  for (const char* name : kRunFiles) {
    std::error_code ec;
    if (fs::exists(fs::path(run_dir) / name, ec)) found.emplace_back(name);
  }
  return found;
}

void check_fresh_run_dir(const std::string& run_dir) {
  const auto found = run_files_in(run_dir);
  if (found.empty()) return;
  std::string names;
  for (const auto& n : found) names += (names.empty() ? "" : ", ") + n;
  throw ConfigError("--out " + run_dir + " already holds a run (" + names + "); continue it with --resume " + run_dir +
                    ", replace it with --overwrite, or choose another --out");
}

void clear_run_dir(const std::string& run_dir) {
  for (const auto& name : run_files_in(run_dir)) {
    const fs::path p = fs::path(run_dir) / name;
    std::error_code ec;
    fs::remove_all(p, ec);
    MHC_CHECK(!ec, IoError, "--overwrite: cannot remove '", p.string(), "': ", ec.message());
  }
}

}  // namespace mhc::train
