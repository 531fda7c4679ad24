// RUN_DIR/run.json: the run's identity (a random hex run id, its start time) and one entry per launch (start or
// resume) with the notices that launch printed, e.g. a clamped train.warmup.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mhc::train {

struct RunInfo {
  std::string run_id;   // 16 lower-case hex digits, random
  std::string started;  // ISO 8601 UTC of the run's first launch
};

// The current time as ISO 8601 UTC with milliseconds, "2026-12-02T10:42:07.123Z".
std::string utc_now_iso8601();

// Writes RUN_DIR/run.json (atomically) for a launch starting at `step`: a new run (resume false, or a resumed run
// without a readable run.json) gets a new id; a resumed run keeps its id and start time and gains a launch entry
// {"time", "step", "precision", "notices"} (precision: train.precision, which may change at a resume). Returns the
// run's identity.
RunInfo record_launch(const std::string& run_dir, bool resume, std::int64_t step, const std::string& precision,
                      const std::vector<std::string>& notices);

}  // namespace mhc::train
