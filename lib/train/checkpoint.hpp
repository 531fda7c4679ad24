// Run-directory checkpoints: weights, optimizer state and trainer state, written atomically, pruned, validated on load.
//
// Layout: RUN_DIR/checkpoints/step_XXXXXXXX/ (step zero-padded to 8 digits, more digits past 99999999) holding
// model.safetensors, optimizer.safetensors and state.json. A checkpoint directory only ever appears under its final
// name complete and fsynced (it is written under .tmp-step_XXXXXXXX and renamed), so every step_XXXXXXXX directory
// is a complete checkpoint.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/safetensors.hpp"

namespace mhc::train {

struct CheckpointData {
  std::int64_t step = 0;                   // completed optimizer steps (>= 0)
  nlohmann::json state;                    // trainer state (a JSON object or null); written as state.json with "step" added
  std::vector<io::NamedTensor> model;      // weights, global names
  std::vector<io::NamedTensor> optimizer;  // e.g. "m.<name>", "v.<name>"
};

// Writes `data` into RUN_DIR/checkpoints/.tmp-step_XXXXXXXX/ (every file and the directory fsynced), then moves it to
// step_XXXXXXXX (an existing checkpoint of the same step is swapped out atomically and deleted), then deletes all but
// the newest `keep` (>= 1) checkpoints by step number, except that the one just written is always kept (it counts
// towards `keep`; this matters only when saving a lower step than existing ones, e.g. after a rollback). Leftover .tmp-* directories of an earlier crashed save are removed first.
// A crash at any moment leaves the newest complete checkpoint intact. Returns the final directory.
// Throws ShapeError for bad arguments (negative step, keep < 1, state neither object nor null, bad tensors) and IoError
// naming the path when the file system refuses.
std::string save_checkpoint(const std::string& run_dir, const CheckpointData& data, std::int64_t keep);

// Newest checkpoint directory of a run by step number (ignores .tmp-* and anything not named step_XXXXXXXX), or ""
// when there is none (also when RUN_DIR/checkpoints does not exist).
std::string latest_checkpoint(const std::string& run_dir);

// A loaded checkpoint: state.json parsed and both safetensors files fully validated at load time.
struct LoadedCheckpoint {
  std::string dir;
  std::int64_t step;
  nlohmann::json state;  // state.json as written, including "step"
  io::SafetensorsFile model;
  io::SafetensorsFile optimizer;
};

// Accepts a checkpoint directory (its name matches step_XXXXXXXX) or a run directory (then its latest checkpoint).
// Throws IoError naming the directory or file for: a missing directory, no checkpoint in a run directory, a missing,
// truncated or corrupt file, a state.json that is not a JSON object with an integer "step", and a "step" different
// from the directory name.
LoadedCheckpoint load_checkpoint(const std::string& path);

// The non-negative integer field `key` of a checkpoint's state.json (`file` names it in errors); IoError naming the
// file, the field and the value when it is missing, not an integer, negative or beyond int64.
std::int64_t state_integer(const nlohmann::json& state, const std::string& key, const std::string& file);

// Copies every tensor of `into` (CPU or GPU) from `file` by name. Every name must exist in the file with the same
// dtype and shape, else IoError naming the tensor, the file and both dtypes/shapes; tensors in the file that are not
// in `into` are an error too unless allow_extra (a pipeline stage loads a subset of a full checkpoint); so is a NaN or
// infinite value in a floating-point tensor (IoError naming the tensor and the element). Everything is checked before
// anything is copied: on an error `into` is untouched.
void restore_tensors(const io::SafetensorsFile& file, const std::vector<io::NamedTensor>& into, bool allow_extra);

}  // namespace mhc::train
