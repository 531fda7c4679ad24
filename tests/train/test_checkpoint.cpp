// Tests of run-directory checkpoints: round trip, pruning, latest, leftover temp dirs, corruption, restore mismatches.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/host_tensor.hpp"
#include "support/temp_dir.hpp"
#include "train/checkpoint.hpp"

using namespace mhc;
using mhc::test::TempDir;
using namespace mhc::train;
namespace fs = std::filesystem;

namespace {

// Deterministic, distinct bytes for every tensor (any dtype).
HostTensor filled(DType dtype, Shape shape, int seed) {
  HostTensor t(dtype, shape);
  auto* bytes = static_cast<unsigned char*>(t.view().data);
  const std::int64_t n = t.numel() * dtype_size(dtype);
  for (std::int64_t i = 0; i < n; ++i) bytes[i] = static_cast<unsigned char>((i * 37 + seed * 11 + 5) & 0xff);
  return t;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  if (a.dtype != b.dtype || a.shape != b.shape) return false;
  const auto n = static_cast<std::size_t>(a.numel() * dtype_size(a.dtype));
  return std::memcmp(a.data, b.data, n) == 0;
}

// Owns the tensors of a small model (mixed dtypes) and its Adam moments.
struct SmallState {
  std::vector<HostTensor> storage;
  CheckpointData data;

  explicit SmallState(std::int64_t step, int seed = 0) {
    data.step = step;
    data.state = {{"adam_step", step}, {"skipped_steps", 1}, {"data", {{"shard", 2}, {"offset", 12345}}},
                  {"config", {{"d_model", 8}, {"lr", 3e-4}}}};
    add(data.model, "embed.weight", DType::f32, Shape{5, 4}, seed + 1);
    add(data.model, "layers.0.hc.phi", DType::f64, Shape{3}, seed + 2);
    add(data.model, "layers.0.scale", DType::bf16, Shape{2, 2}, seed + 3);
    add(data.model, "tokens", DType::i32, Shape{4}, seed + 4);
    add(data.model, "scalar", DType::f32, Shape{}, seed + 5);
    for (const char* moment : {"m.", "v."}) {
      add(data.optimizer, std::string(moment) + "embed.weight", DType::f32, Shape{5, 4}, seed + 6);
      add(data.optimizer, std::string(moment) + "layers.0.hc.phi", DType::f64, Shape{3}, seed + 7);
    }
  }

  void add(std::vector<io::NamedTensor>& list, const std::string& name, DType dtype, Shape shape, int seed) {
    storage.push_back(filled(dtype, shape, seed));
    list.push_back({name, storage.back().view()});
  }
};

// Fresh zeroed tensors with the same names, dtypes and shapes as `like`.
struct Zeros {
  std::vector<HostTensor> storage;
  std::vector<io::NamedTensor> tensors;
  explicit Zeros(const std::vector<io::NamedTensor>& like) {
    for (const io::NamedTensor& t : like) {
      storage.emplace_back(t.tensor.dtype, t.tensor.shape);
      tensors.push_back({t.name, storage.back().view()});
    }
  }
};

// The message of the IoError `fn` throws (fails the test when it throws nothing or something else).
std::string io_error(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const IoError& e) {
    return e.what();
  }
  FAIL("expected an IoError");
  return "";
}

std::set<std::string> entries(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out);
}

}  // namespace

TEST_CASE("checkpoint round trip keeps step, state and tensors bitwise", "[train][checkpoint]") {
  TempDir run;
  SmallState s(7);
  const std::string dir = save_checkpoint(run.str(), s.data, 3);
  CHECK(dir == (run.path() / "checkpoints" / "step_00000007").string());
  CHECK(entries(dir) == std::set<std::string>{"model.safetensors", "optimizer.safetensors", "state.json"});
  CHECK(entries(run.path() / "checkpoints") == std::set<std::string>{"step_00000007"});

  const LoadedCheckpoint ck = load_checkpoint(dir);
  CHECK(ck.dir == dir);
  CHECK(ck.step == 7);
  nlohmann::json expected_state = s.data.state;
  expected_state["step"] = 7;
  CHECK(ck.state == expected_state);
  CHECK(ck.model.names() ==
        std::vector<std::string>{"embed.weight", "layers.0.hc.phi", "layers.0.scale", "tokens", "scalar"});

  Zeros model(s.data.model), optimizer(s.data.optimizer);
  restore_tensors(ck.model, model.tensors, false);
  restore_tensors(ck.optimizer, optimizer.tensors, false);
  for (std::size_t i = 0; i < model.tensors.size(); ++i) {
    CHECK(same_bytes(model.tensors[i].tensor, s.data.model[i].tensor));
  }
  for (std::size_t i = 0; i < optimizer.tensors.size(); ++i) {
    CHECK(same_bytes(optimizer.tensors[i].tensor, s.data.optimizer[i].tensor));
  }
}

TEST_CASE("checkpoint with null state and no optimizer tensors", "[train][checkpoint]") {
  TempDir run;
  CheckpointData data;
  data.step = 0;
  const std::string dir = save_checkpoint(run.str(), data, 1);
  const LoadedCheckpoint ck = load_checkpoint(run.str());
  CHECK(ck.dir == dir);
  CHECK(ck.step == 0);
  CHECK(ck.state == nlohmann::json{{"step", 0}});
  CHECK(ck.model.names().empty());
  CHECK(ck.optimizer.names().empty());
}

TEST_CASE("checkpoint save prunes to the newest `keep` and replaces the same step", "[train][checkpoint]") {
  TempDir run;
  const fs::path ckdir = run.path() / "checkpoints";
  save_checkpoint(run.str(), SmallState(10).data, 2);
  save_checkpoint(run.str(), SmallState(20).data, 2);
  // A lower step than the existing ones (a rollback): the one just written is kept, with the newest other one.
  const std::string five = save_checkpoint(run.str(), SmallState(5).data, 2);
  CHECK(entries(ckdir) == std::set<std::string>{"step_00000005", "step_00000020"});
  CHECK(fs::is_directory(five));
  CHECK(latest_checkpoint(run.str()) == (ckdir / "step_00000020").string());
  save_checkpoint(run.str(), SmallState(30).data, 2);
  CHECK(entries(ckdir) == std::set<std::string>{"step_00000020", "step_00000030"});
  save_checkpoint(run.str(), SmallState(40).data, 2);
  CHECK(entries(ckdir) == std::set<std::string>{"step_00000030", "step_00000040"});
  CHECK(latest_checkpoint(run.str()) == (ckdir / "step_00000040").string());

  SECTION("re-saving an existing step replaces it") {
    SmallState again(40, /*seed=*/9);
    again.data.state["skipped_steps"] = 42;
    save_checkpoint(run.str(), again.data, 2);
    CHECK(entries(ckdir) == std::set<std::string>{"step_00000030", "step_00000040"});
    const LoadedCheckpoint ck = load_checkpoint(run.str());
    CHECK(ck.state["skipped_steps"] == 42);
    Zeros model(again.data.model);
    restore_tensors(ck.model, model.tensors, false);
    CHECK(same_bytes(model.tensors[0].tensor, again.data.model[0].tensor));
  }
  SECTION("keep=1 leaves only the newest") {
    save_checkpoint(run.str(), SmallState(50).data, 1);
    CHECK(entries(ckdir) == std::set<std::string>{"step_00000050"});
  }
  SECTION("steps past 8 digits sort by number") {
    save_checkpoint(run.str(), SmallState(123456789).data, 2);
    CHECK(entries(ckdir) == std::set<std::string>{"step_00000040", "step_123456789"});
    CHECK(load_checkpoint(run.str()).step == 123456789);
  }
}

TEST_CASE("latest_checkpoint ignores temp directories and junk names", "[train][checkpoint]") {
  TempDir run;
  CHECK(latest_checkpoint(run.str()).empty());                          // no checkpoints/ yet
  CHECK(latest_checkpoint((run.path() / "missing").string()).empty());  // no run dir at all
  const fs::path ckdir = run.path() / "checkpoints";
  fs::create_directories(ckdir);
  CHECK(latest_checkpoint(run.str()).empty());

  save_checkpoint(run.str(), SmallState(3).data, 5);
  for (const char* junk : {".tmp-step_00000099", "step_99", "step_0000009x", "step_000000099", "step_-0000099",
                           "xstep_00000099", "step_00000099.old", "notes"}) {
    fs::create_directories(ckdir / junk);
  }
  write_text(ckdir / "step_00000098", "a file, not a directory");
  CHECK(latest_checkpoint(run.str()) == (ckdir / "step_00000003").string());
}

TEST_CASE("a leftover temp directory is removed by the next save", "[train][checkpoint]") {
  TempDir run;
  const fs::path ckdir = run.path() / "checkpoints";
  save_checkpoint(run.str(), SmallState(1).data, 5);
  // A crash mid-save of step 2 (and one of the same step as the next save) leaves partial temp directories.
  for (const char* tmp : {".tmp-step_00000002", ".tmp-step_00000003"}) {
    fs::create_directories(ckdir / tmp);
    write_text(ckdir / tmp / "model.safetensors", "partial");
  }
  CHECK(latest_checkpoint(run.str()) == (ckdir / "step_00000001").string());
  save_checkpoint(run.str(), SmallState(3).data, 5);
  CHECK(entries(ckdir) == std::set<std::string>{"step_00000001", "step_00000003"});
}

TEST_CASE("checkpoint save rejects bad arguments without leaving anything behind", "[train][checkpoint]") {
  TempDir run;
  CHECK_THROWS_AS(save_checkpoint(run.str(), SmallState(1).data, 0), ShapeError);
  CHECK_THROWS_AS(save_checkpoint(run.str(), SmallState(-1).data, 2), ShapeError);
  SmallState bad_state(1);
  bad_state.data.state = nlohmann::json::array({1, 2});
  CHECK_THROWS_AS(save_checkpoint(run.str(), bad_state.data, 2), ShapeError);

  SmallState dup(2);
  dup.data.model.push_back(dup.data.model[0]);  // repeated name: the safetensors writer refuses
  CHECK_THROWS_AS(save_checkpoint(run.str(), dup.data, 2), ShapeError);
  const fs::path ckdir = run.path() / "checkpoints";
  if (fs::exists(ckdir)) CHECK(entries(ckdir).empty());
}

TEST_CASE("load_checkpoint via run directory or checkpoint directory", "[train][checkpoint]") {
  TempDir run;
  save_checkpoint(run.str(), SmallState(4).data, 3);
  const std::string newest = save_checkpoint(run.str(), SmallState(8).data, 3);

  const LoadedCheckpoint via_run = load_checkpoint(run.str());
  const LoadedCheckpoint via_run_slash = load_checkpoint(run.str() + "/");
  const LoadedCheckpoint via_dir = load_checkpoint(newest);
  const LoadedCheckpoint via_dir_slash = load_checkpoint(newest + "/");
  for (const LoadedCheckpoint* ck : {&via_run, &via_run_slash, &via_dir, &via_dir_slash}) {
    CHECK(fs::equivalent(ck->dir, newest));
    CHECK(ck->step == 8);
  }
  const LoadedCheckpoint older = load_checkpoint((run.path() / "checkpoints" / "step_00000004").string());
  CHECK(older.step == 4);
  CHECK(older.state["adam_step"] == 4);
}

TEST_CASE("load_checkpoint names the path of every corruption", "[train][checkpoint]") {
  TempDir run;
  const std::string dir = save_checkpoint(run.str(), SmallState(6).data, 3);
  const fs::path model = fs::path(dir) / "model.safetensors";
  const fs::path optimizer = fs::path(dir) / "optimizer.safetensors";
  const fs::path state = fs::path(dir) / "state.json";
  auto load_dir = [&] { load_checkpoint(dir); };
  auto load_run = [&] { load_checkpoint(run.str()); };

  SECTION("missing directory") {
    const std::string missing = (run.path() / "nope").string();
    CHECK_THAT(io_error([&] { load_checkpoint(missing); }), Catch::Contains(missing));
    const std::string missing_step = (run.path() / "checkpoints" / "step_00000099").string();
    CHECK_THAT(io_error([&] { load_checkpoint(missing_step); }), Catch::Contains(missing_step));
  }
  SECTION("run directory without checkpoints") {
    TempDir empty;
    CHECK_THAT(io_error([&] { load_checkpoint(empty.str()); }), Catch::Contains(empty.str()));
  }
  SECTION("truncated model.safetensors") {
    fs::resize_file(model, fs::file_size(model) - 3);
    CHECK_THAT(io_error(load_dir), Catch::Contains(model.string()));
    CHECK_THAT(io_error(load_run), Catch::Contains(model.string()));
  }
  SECTION("model.safetensors cut inside its header") {
    fs::resize_file(model, 5);
    CHECK_THAT(io_error(load_dir), Catch::Contains(model.string()));
  }
  SECTION("deleted optimizer.safetensors") {
    fs::remove(optimizer);
    CHECK_THAT(io_error(load_dir), Catch::Contains(optimizer.string()));
    CHECK_THAT(io_error(load_run), Catch::Contains(optimizer.string()));
  }
  SECTION("deleted state.json") {
    fs::remove(state);
    CHECK_THAT(io_error(load_dir), Catch::Contains(state.string()));
  }
  SECTION("garbage state.json") {
    write_text(state, "{\"step\": 6, oops");
    CHECK_THAT(io_error(load_dir), Catch::Contains(state.string()));
  }
  SECTION("state.json not an object") {
    write_text(state, "[6]");
    CHECK_THAT(io_error(load_dir), Catch::Contains(state.string()));
  }
  SECTION("state.json without step") {
    write_text(state, "{\"adam_step\": 6}");
    CHECK_THAT(io_error(load_dir), Catch::Contains(state.string()) && Catch::Contains("step"));
  }
  SECTION("state.json with a non-integer step") {
    write_text(state, "{\"step\": 6.5}");
    CHECK_THAT(io_error(load_dir), Catch::Contains(state.string()));
    write_text(state, "{\"step\": \"6\"}");
    CHECK_THAT(io_error(load_dir), Catch::Contains(state.string()));
  }
  SECTION("step in state.json differs from the directory name") {
    write_text(state, "{\"step\": 7}");
    CHECK_THAT(io_error(load_dir), Catch::Contains(state.string()) && Catch::Contains("7") && Catch::Contains("6"));
    CHECK_THAT(io_error(load_run), Catch::Contains(state.string()));
  }
}

TEST_CASE("restore_tensors checks names, dtypes and shapes before copying", "[train][checkpoint]") {
  TempDir run;
  SmallState s(2);
  save_checkpoint(run.str(), s.data, 2);
  const LoadedCheckpoint ck = load_checkpoint(run.str());
  const std::string file = ck.model.path();
  Zeros into(s.data.model);

  SECTION("shape mismatch names tensor, file and both shapes") {
    HostTensor wrong(DType::f32, Shape{4, 5});
    into.tensors[0].tensor = wrong.view();
    const std::string msg = io_error([&] { restore_tensors(ck.model, into.tensors, false); });
    CHECK_THAT(msg, Catch::Contains("embed.weight") && Catch::Contains(file) && Catch::Contains("(5, 4)") &&
                        Catch::Contains("(4, 5)"));
    // Nothing was copied, not even the tensors before or after the bad one.
    for (std::size_t i = 1; i < into.storage.size(); ++i) {
      const auto* bytes = static_cast<const unsigned char*>(into.storage[i].view().data);
      const auto n = static_cast<std::size_t>(into.storage[i].numel() * dtype_size(into.storage[i].view().dtype));
      CHECK(std::all_of(bytes, bytes + n, [](unsigned char b) { return b == 0; }));
    }
  }
  SECTION("dtype mismatch") {
    HostTensor wrong(DType::f32, Shape{3});
    into.tensors[1].tensor = wrong.view();
    const std::string msg = io_error([&] { restore_tensors(ck.model, into.tensors, false); });
    CHECK_THAT(msg, Catch::Contains("layers.0.hc.phi") && Catch::Contains(file) && Catch::Contains("f64") &&
                        Catch::Contains("f32"));
  }
  SECTION("name missing from the file") {
    HostTensor extra(DType::f32, Shape{2});
    into.tensors.push_back({"lm_head.weight", extra.view()});
    for (bool allow_extra : {false, true}) {
      const std::string msg = io_error([&] { restore_tensors(ck.model, into.tensors, allow_extra); });
      CHECK_THAT(msg, Catch::Contains("lm_head.weight") && Catch::Contains(file));
    }
  }
  SECTION("extra name in the file is an error unless allow_extra") {
    std::vector<io::NamedTensor> subset = {into.tensors[0], into.tensors[3]};
    const std::string msg = io_error([&] { restore_tensors(ck.model, subset, false); });
    CHECK_THAT(msg, Catch::Contains(file) && Catch::Contains("layers.0.hc.phi"));
    CHECK_NOTHROW(restore_tensors(ck.model, subset, true));
    CHECK(same_bytes(subset[0].tensor, s.data.model[0].tensor));
    CHECK(same_bytes(subset[1].tensor, s.data.model[3].tensor));
  }
}
