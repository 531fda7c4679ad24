// Run directories are never mixed: a new run refuses a directory that already holds one, unless told to replace it.
#pragma once

#include <string>
#include <vector>

namespace mhc::train {

// The files and folders of RUN_DIR that a run writes (config.resolved.json, metrics.jsonl, checkpoints, ...) and
// that are present; empty for a missing or fresh directory.
std::vector<std::string> run_files_in(const std::string& run_dir);

// ConfigError naming the run files when RUN_DIR already holds a run (a new run would mix its files with the old).
void check_fresh_run_dir(const std::string& run_dir);

// Removes the run files of RUN_DIR (--overwrite); other files in it (logs, notes) stay. IoError when one cannot go.
void clear_run_dir(const std::string& run_dir);

}  // namespace mhc::train
