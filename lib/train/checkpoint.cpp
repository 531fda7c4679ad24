// Run-directory checkpoints: atomic save (temp directory of atomically written files, rename, fsync), pruning,
// validated load, tensor restore.
#include "train/checkpoint.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <utility>

#include "core/atomic_file.hpp"
#include "core/copy.hpp"
#include "core/error.hpp"
#include "core/host_tensor.hpp"
#include "io/json_text.hpp"

namespace mhc::train {

namespace fs = std::filesystem;

namespace {

constexpr const char* kCheckpointsDir = "checkpoints";
constexpr const char* kStepPrefix = "step_";
constexpr const char* kTempPrefix = ".tmp-";
constexpr const char* kModelFile = "model.safetensors";
constexpr const char* kOptimizerFile = "optimizer.safetensors";
constexpr const char* kStateFile = "state.json";
constexpr std::size_t kStepDigits = 8;
constexpr std::size_t kMaxStepDigits = 18;  // fits std::int64_t
constexpr int kMaxStateDepth = 16;           // state.json nests the config: 3 levels

template <typename... Parts>
[[noreturn]] void fail_io(const char* where, const std::string& path, const Parts&... parts) {
  throw IoError(detail::concat(where, ": ", path, ": ", parts...));
}

std::string step_dir_name(std::int64_t step) {
  std::string digits = std::to_string(step);
  if (digits.size() < kStepDigits) digits.insert(0, kStepDigits - digits.size(), '0');
  return kStepPrefix + digits;
}

// The step of a directory named exactly step_dir_name(step), or -1 for any other name.
std::int64_t parse_step_dir_name(const std::string& name) {
  const std::size_t prefix = std::strlen(kStepPrefix);
  if (name.compare(0, prefix, kStepPrefix) != 0) return -1;
  const std::string digits = name.substr(prefix);
  if (digits.size() < kStepDigits || digits.size() > kMaxStepDigits) return -1;
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return -1;
  const std::int64_t step = std::stoll(digits);
  return step_dir_name(step) == name ? step : -1;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

void rename_or_throw(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    fail_io("save_checkpoint", from.string(), "cannot rename to ", to.string(), ": ", std::strerror(errno));
  }
}

void remove_all_or_throw(const fs::path& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) fail_io("save_checkpoint", path.string(), "cannot remove: ", ec.message());
}

// Removes the directory (and its contents) on destruction unless released.
class TempDirGuard {
 public:
  explicit TempDirGuard(fs::path path) : path_(std::move(path)) {}
  TempDirGuard(const TempDirGuard&) = delete;
  TempDirGuard& operator=(const TempDirGuard&) = delete;
  ~TempDirGuard() {
    if (path_.empty()) return;
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  void release() { path_.clear(); }

 private:
  fs::path path_;
};

// Complete checkpoints of a checkpoints directory as (step, directory), ascending by step; empty if it does not exist.
std::vector<std::pair<std::int64_t, fs::path>> list_checkpoints(const fs::path& checkpoints_dir, const char* where) {
  std::vector<std::pair<std::int64_t, fs::path>> found;
  std::error_code ec;
  if (!fs::is_directory(checkpoints_dir, ec)) return found;
  fs::directory_iterator it(checkpoints_dir, ec);
  if (ec) fail_io(where, checkpoints_dir.string(), "cannot list directory: ", ec.message());
  for (const fs::directory_entry& entry : it) {
    const std::int64_t step = parse_step_dir_name(entry.path().filename().string());
    if (step < 0 || !entry.is_directory(ec)) continue;
    found.emplace_back(step, entry.path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

// Removes every .tmp-* entry of the checkpoints directory (left by a crashed save or prune).
void remove_leftover_temps(const fs::path& checkpoints_dir) {
  std::error_code ec;
  fs::directory_iterator it(checkpoints_dir, ec);
  if (ec) fail_io("save_checkpoint", checkpoints_dir.string(), "cannot list directory: ", ec.message());
  std::vector<fs::path> leftovers;
  for (const fs::directory_entry& entry : it) {
    if (starts_with(entry.path().filename().string(), kTempPrefix)) leftovers.push_back(entry.path());
  }
  for (const fs::path& p : leftovers) remove_all_or_throw(p);
}

// Moves the complete directory `fresh` to `target`, which may already hold a checkpoint of the same step. The old one
// is swapped out atomically (renameat2 RENAME_EXCHANGE) and deleted; on file systems without the exchange it is first
// renamed aside to a .tmp-* name (a crash in that short window leaves the older checkpoints, not this step).
void move_into_place(const fs::path& fresh, const fs::path& target) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(target, ec))) {
    rename_or_throw(fresh, target);
    return;
  }
  if (::renameat2(AT_FDCWD, fresh.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
    remove_all_or_throw(fresh);  // now holds the replaced checkpoint
    return;
  }
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) {
    fail_io("save_checkpoint", fresh.string(), "cannot exchange with ", target.string(), ": ", std::strerror(errno));
  }
  const fs::path aside = target.parent_path() / (std::string(kTempPrefix) + "replaced-" + target.filename().string());
  rename_or_throw(target, aside);
  rename_or_throw(fresh, target);
  remove_all_or_throw(aside);
}

nlohmann::json read_state(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail_io("load_checkpoint", file.string(), "cannot open file (missing or unreadable)");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail_io("load_checkpoint", file.string(), "read failed");
  nlohmann::json state = io::parse_json_text<nlohmann::json>(text, "load_checkpoint: " + file.string(), kMaxStateDepth);
  if (!state.is_object()) fail_io("load_checkpoint", file.string(), "not a JSON object");
  return state;
}

}  // namespace

std::string save_checkpoint(const std::string& run_dir, const CheckpointData& data, std::int64_t keep) {
  MHC_CHECK(data.step >= 0, ShapeError, "step must be >= 0, got ", data.step);
  MHC_CHECK(keep >= 1, ShapeError, "keep must be >= 1, got ", keep);
  MHC_CHECK(data.state.is_object() || data.state.is_null(), ShapeError, "state must be a JSON object, got ",
            data.state.type_name());

  const fs::path checkpoints_dir = fs::path(run_dir) / kCheckpointsDir;
  std::error_code ec;
  const bool created = fs::create_directories(checkpoints_dir, ec);
  if (ec) fail_io("save_checkpoint", checkpoints_dir.string(), "cannot create directory: ", ec.message());
  if (created) fsync_directory(fs::path(run_dir).string());
  remove_leftover_temps(checkpoints_dir);

  const std::string name = step_dir_name(data.step);
  const fs::path tmp_dir = checkpoints_dir / (kTempPrefix + name);
  const fs::path final_dir = checkpoints_dir / name;
  if (!fs::create_directory(tmp_dir, ec) || ec) {
    fail_io("save_checkpoint", tmp_dir.string(), "cannot create directory: ", ec ? ec.message() : "already exists");
  }
  TempDirGuard guard(tmp_dir);

  io::write_safetensors((tmp_dir / kModelFile).string(), data.model);
  io::write_safetensors((tmp_dir / kOptimizerFile).string(), data.optimizer);
  nlohmann::json state = data.state.is_null() ? nlohmann::json::object() : data.state;
  state["step"] = data.step;
  write_file_atomic((tmp_dir / kStateFile).string(), state.dump(2) + "\n");
  fsync_directory(tmp_dir.string());

  move_into_place(tmp_dir, final_dir);
  guard.release();
  fsync_directory(checkpoints_dir.string());

  // Prune the lowest steps, never the one just written: rename each to a .tmp-* name first so that no partly deleted
  // step_* directory can remain.
  auto others = list_checkpoints(checkpoints_dir, "save_checkpoint");
  others.erase(std::remove_if(others.begin(), others.end(), [&](const auto& c) { return c.first == data.step; }),
               others.end());
  const auto others_kept = static_cast<std::size_t>(keep - 1);
  const std::size_t excess = others.size() > others_kept ? others.size() - others_kept : 0;
  for (std::size_t i = 0; i < excess; ++i) {
    const fs::path& old = others[i].second;
    const fs::path doomed = checkpoints_dir / (std::string(kTempPrefix) + "pruned-" + old.filename().string());
    rename_or_throw(old, doomed);
    remove_all_or_throw(doomed);
  }
  if (excess > 0) fsync_directory(checkpoints_dir.string());
  return final_dir.string();
}

std::int64_t state_integer(const nlohmann::json& state, const std::string& key, const std::string& file) {
  const auto it = state.find(key);
  if (it == state.end()) fail_io("load_checkpoint", file, "no \"", key, "\"");
  if (!it->is_number_integer() || (it->is_number_unsigned() && it->get<std::uint64_t>() >
                                                                  static_cast<std::uint64_t>(
                                                                      std::numeric_limits<std::int64_t>::max()))) {
    fail_io("load_checkpoint", file, "\"", key, "\" must be an integer below 2^63, got ", it->dump());
  }
  const auto value = it->get<std::int64_t>();
  if (value < 0) fail_io("load_checkpoint", file, "\"", key, "\" must be >= 0, got ", value);
  return value;
}

std::string latest_checkpoint(const std::string& run_dir) {
  const auto checkpoints = list_checkpoints(fs::path(run_dir) / kCheckpointsDir, "latest_checkpoint");
  return checkpoints.empty() ? std::string() : checkpoints.back().second.string();
}

LoadedCheckpoint load_checkpoint(const std::string& path) {
  fs::path dir(path);
  if (dir.filename().empty()) dir = dir.parent_path();  // trailing separator
  std::error_code ec;
  if (!fs::exists(dir, ec)) fail_io("load_checkpoint", path, "no such directory");
  if (!fs::is_directory(dir, ec)) fail_io("load_checkpoint", path, "not a directory");

  std::int64_t dir_step = parse_step_dir_name(dir.filename().string());
  if (dir_step < 0) {  // a run directory
    const std::string latest = latest_checkpoint(dir.string());
    if (latest.empty()) {
      fail_io("load_checkpoint", path, "no checkpoint in this run directory (looked for ", kCheckpointsDir, "/",
              kStepPrefix, "XXXXXXXX)");
    }
    dir = latest;
    dir_step = parse_step_dir_name(dir.filename().string());
  }

  const fs::path state_file = dir / kStateFile;
  nlohmann::json state = read_state(state_file);
  const std::int64_t step = state_integer(state, "step", state_file.string());
  if (step != dir_step) {
    fail_io("load_checkpoint", state_file.string(), "\"step\" is ", step, " but the directory is for step ", dir_step);
  }
  io::SafetensorsFile model = io::SafetensorsFile::read((dir / kModelFile).string());
  io::SafetensorsFile optimizer = io::SafetensorsFile::read((dir / kOptimizerFile).string());
  return LoadedCheckpoint{dir.string(), step, std::move(state), std::move(model), std::move(optimizer)};
}

void restore_tensors(const io::SafetensorsFile& file, const std::vector<io::NamedTensor>& into, bool allow_extra) {
  std::set<std::string> wanted;
  for (const io::NamedTensor& t : into) {
    if (!file.contains(t.name)) fail_io("restore_tensors", file.path(), "no tensor '", t.name, "'");
    const DType dtype = file.dtype(t.name);
    const Shape shape = file.shape(t.name);
    if (dtype != t.tensor.dtype || shape != t.tensor.shape) {
      fail_io("restore_tensors", file.path(), "tensor '", t.name, "' is ", dtype_name(dtype), " ", shape.str(),
              " in the file but ", dtype_name(t.tensor.dtype), " ", t.tensor.shape.str(), " in memory");
    }
    if (const std::int64_t k = file.first_non_finite(t.name); k >= 0) {
      fail_io("restore_tensors", file.path(), "tensor '", t.name, "' holds a non-finite value (NaN or infinity) at ",
              "element ", k);
    }
    wanted.insert(t.name);
  }
  if (!allow_extra) {
    for (const std::string& name : file.names()) {
      if (wanted.count(name) == 0) fail_io("restore_tensors", file.path(), "unexpected tensor '", name, "' in the file");
    }
  }
  for (const io::NamedTensor& t : into) {
    if (t.tensor.device == Device::cpu) {
      file.read_into(t.name, t.tensor);
    } else {  // a GPU tensor is read into host memory, then uploaded
      HostTensor staged(t.tensor.dtype, t.tensor.shape);
      file.read_into(t.name, staged.view());
      copy_tensor(t.tensor, staged.view());
    }
  }
}

}  // namespace mhc::train
