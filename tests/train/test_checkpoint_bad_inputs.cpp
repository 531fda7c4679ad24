// Bad run-directory files: state.json fields missing, mistyped or out of range, and non-finite weights, each an
// IoError naming the file, the field or the tensor (never the JSON library's text), on resume and on restore; foreign
// lines in metrics.jsonl dropped on resume.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>

#include <nlohmann/json.hpp>

#include "core/host_tensor.hpp"
#include "support/temp_dir.hpp"
#include "train/checkpoint.hpp"
#include "train/metrics.hpp"
#include "train/trainer.hpp"
#include "train_test_util.hpp"

using namespace mhc;
using namespace mhc::train;
namespace fs = std::filesystem;

namespace {

TrainResult run(const config::Config& cfg, const std::string& dir, bool resume) {
  TrainOptions o = test::quiet_options(dir);
  o.resume = resume;
  return Trainer(cfg, o).run();
}

std::string io_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const IoError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("state_integer names the file, the field and the value", "[train]") {
  const nlohmann::json state = {{"step", 3}, {"neg", -1}, {"text", "7"}, {"big", std::uint64_t{1} << 63}, {"f", 1.5}};
  CHECK(state_integer(state, "step", "s.json") == 3);
  CHECK_THAT(io_error([&] { state_integer(state, "adam_updates", "s.json"); }),
             Catch::Contains("s.json: no \"adam_updates\""));
  CHECK_THAT(io_error([&] { state_integer(state, "neg", "s.json"); }), Catch::Contains("\"neg\" must be >= 0, got -1"));
  CHECK_THAT(io_error([&] { state_integer(state, "text", "s.json"); }),
             Catch::Contains("\"text\" must be an integer below 2^63, got \"7\""));
  CHECK_THAT(io_error([&] { state_integer(state, "big", "s.json"); }), Catch::Contains("9223372036854775808"));
  CHECK_THAT(io_error([&] { state_integer(state, "f", "s.json"); }), Catch::Contains("got 1.5"));
}

TEST_CASE("resume from a state.json missing or mistyping a field is an IoError naming it", "[train]") {
  const test::TempDir dir("bad_state");
  const config::Config cfg = test::small_train_config(1, 1);
  run(cfg, dir.str(), false);
  const std::string state_file = latest_checkpoint(dir.str()) + "/state.json";
  nlohmann::json state;
  std::ifstream(state_file) >> state;
  config::Config longer = cfg;
  longer.train.steps = 2;

  for (const auto& [field, value] : {std::pair<std::string, nlohmann::json>{"adam_updates", nullptr},
                                     {"adam_updates", "1"},
                                     {"consecutive_skips", -2}}) {
    INFO(field << " = " << value.dump());
    nlohmann::json bad = state;
    if (value.is_null()) {
      bad.erase(field);
    } else {
      bad[field] = value;
    }
    std::ofstream(state_file) << bad.dump();
    const std::string message = io_error([&] { run(longer, dir.str(), true); });
    CHECK_THAT(message, Catch::Contains(state_file) && Catch::Contains("\"" + field + "\"") &&
                            !Catch::Contains("json.exception"));
  }
  std::ofstream(state_file) << "{\"step\": 1, \"x\": " << std::string(1000, '[') << std::string(1000, ']') << "}";
  CHECK_THAT(io_error([&] { load_checkpoint(dir.str()); }), Catch::Contains("nested deeper than 16 levels"));
  std::ofstream(state_file) << "{\"step\": 1e999}";
  CHECK_THAT(io_error([&] { load_checkpoint(dir.str()); }),
             Catch::Contains(state_file + ": not valid JSON: number overflow"));
}

TEST_CASE("restore_tensors refuses a non-finite weight, naming the tensor, before copying anything", "[train]") {
  const test::TempDir dir("nonfinite");
  HostTensor good(DType::f32, Shape{3}), bad(DType::f32, Shape{2, 2});
  good.view().ptr<float>()[0] = 1.f;
  bad.view().ptr<float>()[3] = std::numeric_limits<float>::infinity();
  const std::string path = dir.file("model.safetensors");
  io::write_safetensors(path, {{"a.weight", good.view()}, {"blocks.0.attn.wq", bad.view()}});
  const auto file = io::SafetensorsFile::read(path);
  HostTensor into_a(DType::f32, Shape{3}), into_b(DType::f32, Shape{2, 2});
  into_a.view().ptr<float>()[0] = 7.f;
  CHECK_THAT(io_error([&] {
               restore_tensors(file, {{"a.weight", into_a.view()}, {"blocks.0.attn.wq", into_b.view()}}, false);
             }),
             Catch::Contains(path) && Catch::Contains("tensor 'blocks.0.attn.wq' holds a non-finite value") &&
                 Catch::Contains("element 3"));
  CHECK(into_a.view().ptr<float>()[0] == 7.f);  // untouched
}

TEST_CASE("resume keeps the metric records up to its step and drops foreign lines", "[train]") {
  const test::TempDir dir("metrics_lines");
  std::ofstream(dir.file("metrics.jsonl")) << "{\"step\": 1, \"loss\": 2.5}\n[1, 2]\n{\"step\": \n\"text\"\n"
                                            << "{\"step\": \"2\"}\n{\"loss\": 1}\n{\"step\": 2}\n{\"step\": 3}\n";
  { train::MetricsWriter keep(dir.str(), 2); }
  std::ifstream in(dir.file("metrics.jsonl"));
  const std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(kept == "{\"step\": 1, \"loss\": 2.5}\n{\"step\": 2}\n");
}
