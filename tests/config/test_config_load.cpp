// Tests of load_config: --set overrides of every kind, config files, JSON syntax errors with line:column.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "config_test_util.hpp"

using namespace mhc::config;
using mhc::config::test::config_error;
namespace fs = std::filesystem;

namespace {

// The ConfigError message of load_config on the embedded default with these overrides.
std::string set_error(const std::vector<std::string>& overrides) {
  return config_error([&] { load_config("", overrides); });
}

// A fresh directory under the system temp directory, removed with its files at the end of the test.
class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("mhc_config_test_" + std::to_string(::getpid()))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes text to name in the directory and returns the file's path.
  std::string write(const std::string& name, const std::string& text) const {
    const fs::path file = path_ / name;
    std::ofstream(file, std::ios::binary) << text;
    return file.string();
  }
  std::string path(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

}  // namespace

TEST_CASE("load_config without a file is the embedded default", "[config]") {
  CHECK(load_config("", {}) == default_config());
}

TEST_CASE("--set overrides of every type", "[config]") {
  const Config c = load_config(
      "", {"train.steps=1000", "train.lr=1e-3", "model.tie_embeddings=true", "residual.type=hc",
           "residual.bias_init=\"zero\"", "parallel.layout=[1,3]", "parallel.pp=2", "data.seed=18446744073709551615",
           "recompute.block_layers=2", "checkpoint.keep=5", "train.steps=2000"});
  CHECK(c.train.steps == 2000);  // the later override wins
  CHECK(c.train.warmup == 200);  // derived from the overridden steps
  CHECK(c.train.lr == 1e-3);
  CHECK(c.train.min_lr == 1e-4);
  CHECK(c.model.tie_embeddings);
  CHECK(c.residual.type == mhc::model::connection_kind("hc"));
  CHECK(c.residual.bias_init == mhc::ops::MhcInit::Bias::zero);
  CHECK(c.parallel.layout == std::vector<std::int64_t>{1, 3});
  CHECK(c.data.seed == 18446744073709551615ULL);
  CHECK(c.recompute.block_layers == "2");
  CHECK(c.checkpoint.keep == 5);

  // Keys that hold text take the value as it is, also when it looks like JSON; "quoted" text is unquoted.
  const Config text = load_config("", {"data.source=text", "data.path=123", "recompute.block_layers=stage"});
  CHECK(text.data.path == "123");
  CHECK(text.recompute.block_layers == "stage");
  CHECK(load_config("", {"data.source=text", "data.path=\"my file.txt\""}).data.path == "my file.txt");
  CHECK(load_config("", {"data.source=text", "data.path=a=b"}).data.path == "a=b");

  // residual needs n_streams 1: its default is resolved after the override of the type.
  CHECK(load_config("", {"residual.type=residual"}).residual.n_streams == 1);
  CHECK(load_config("", {"residual.type=residual", "recompute.block_layers=auto"}).residual.type ==
        mhc::model::connection_kind("residual"));
}

TEST_CASE("--set errors name the override", "[config]") {
  CHECK(set_error({"residual.n_stream=3"}) ==
        "unknown key 'residual.n_stream' in --set residual.n_stream=3; did you mean 'residual.n_streams'?");
  CHECK(set_error({"residul.type=hc"}) ==
        "unknown key 'residul.type' in --set residul.type=hc; did you mean 'residual.type'?");
  CHECK(set_error({"lr=0.1"}) == "unknown section 'lr' in --set lr=0.1; did you mean 'train.lr'?");
  CHECK(set_error({"train.lr.x=3"}) == "unknown key 'train.lr.x' in --set train.lr.x=3; did you mean 'train.lr'?");
  CHECK(set_error({"train.lr"}) == "--set train.lr: expected key=value, e.g. --set train.lr=1e-3");
  CHECK(set_error({"=3"}) == "--set =3: missing the key before '=', e.g. --set train.lr=1e-3");
  CHECK(set_error({"model=3"}) ==
        "--set model=3: 'model' is a section; set one of its keys, e.g. --set "
        "model.d_model=...");
  CHECK(set_error({"train.lr=abc"}) == R"(--set train.lr=abc: train.lr must be a number, got "abc")");
  CHECK(set_error({"train.lr="}) == R"(--set train.lr=: train.lr must be a number, got "")");
  CHECK(set_error({"train.steps=3.5"}) == "--set train.steps=3.5: train.steps must be an integer, got 3.5");
  CHECK(set_error({"train.steps=\"3\""}) == R"(--set train.steps="3": train.steps must be an integer, got "3")");
  CHECK(set_error({"residual.type=foo"}) ==
        "--set residual.type=foo: residual.type must be one of " + mhc::model::connection_kind_choices() +
            R"(, got "foo")");
  CHECK(set_error({"parallel.layout=2,2"}) ==
        R"(--set parallel.layout=2,2: parallel.layout must be a list of integers, got "2,2")");
  CHECK(set_error({"model.tie_embeddings=yes"}) ==
        R"(--set model.tie_embeddings=yes: model.tie_embeddings must be true or false, got "yes")");
  CHECK(set_error({"train.beta2=1"}) == "--set train.beta2=1: train.beta2 must be >= 0 and < 1, got 1.0");
  // A combination check names the override that took part in it.
  CHECK(set_error({"model.d_model=130"}) ==
        "--set model.d_model=130: model.d_model (130) must be divisible by model.n_heads (4)");
}

TEST_CASE("config files: valid, with comments, overrides, syntax errors and missing files", "[config]") {
  const TempDir dir;
  const std::string good = dir.write("good.json", R"({
  // a tiny hc run
  "residual": {"type": "hc", "n_streams": 2},
  "train": {"steps": 100, "lr": 1e-3} /* the rest is default */
})");
  const Config c = load_config(good, {});
  CHECK(c.residual.type == mhc::model::connection_kind("hc"));
  CHECK(c.residual.n_streams == 2);
  CHECK(c.train.steps == 100);
  CHECK(c.train.warmup == 10);
  CHECK(load_config(good, {"residual.n_streams=3"}).residual.n_streams == 3);
  CHECK(load_config(dir.write("empty_object.json", "{}"), {}) == default_config());

  // The resolved dump reloads to the same config.
  const std::string resolved = dir.write("resolved.json", to_json(c).dump(2));
  CHECK(load_config(resolved, {}) == c);

  // Errors in the file name the file; errors from an override name the override.
  const std::string typo = dir.write("typo.json", R"({"residual": {"n_stream": 2}})");
  CHECK(config_error([&] { load_config(typo, {}); }) ==
        "unknown key 'residual.n_stream' in " + typo + "; did you mean 'residual.n_streams'?");
  CHECK(config_error([&] { load_config(good, {"residual.type=residual"}); }) ==
        R"(--set residual.type=residual: residual.type "residual" needs residual.n_streams = 1, got 2; set )"
        R"(residual.n_streams to 1 or residual.type to an n-stream type such as "mhc")");
  const std::string bad_lr = dir.write("bad_lr.json", R"({"train": {"lr": "abc"}})");
  CHECK(config_error([&] { load_config(bad_lr, {}); }) == bad_lr + R"(: train.lr must be a number, got "abc")");
  CHECK_NOTHROW(load_config(bad_lr, {"train.lr=0.01"}));

  // JSON syntax errors give line:column of the byte where parsing stopped.
  const std::string syntax = dir.write("syntax.json", "{\n  \"train\": {\n    \"lr\": x\n  }\n}\n");
  CHECK(config_error([&] { load_config(syntax, {}); }) ==
        syntax + R"(:3:11: JSON syntax error: invalid literal; last read: '"lr": x')");
  const std::string trailing = dir.write("trailing.json", "{\n  \"train\": {\"steps\": 10,}\n}");
  CHECK(config_error([&] { load_config(trailing, {}); }) ==
        trailing + ":2:25: JSON syntax error: unexpected '}'; expected string literal");
  const std::string unterminated = dir.write("unterminated.json", "{\"data\": {\"path\": \"abc");
  CHECK(config_error([&] { load_config(unterminated, {}); }) ==
        unterminated + ":1:23: JSON syntax error: invalid string: missing closing quote; last read: '\"abc'");
  const std::string empty = dir.write("empty.json", "");
  CHECK(config_error([&] { load_config(empty, {}); }) ==
        empty + ":1:1: JSON syntax error: unexpected end of input; expected '[', '{', or a literal");

  const std::string duplicate = dir.write("duplicate.json", R"({"train": {"lr": 0.1, "lr": 0.2}})");
  CHECK(config_error([&] { load_config(duplicate, {}); }) ==
        duplicate + ": duplicate key 'train.lr'; each key may appear only once");

  const std::string missing = dir.path("missing.json");
  CHECK(config_error([&] { load_config(missing, {}); }) ==
        "cannot open config file '" + missing + "': No such file or directory");
  CHECK(config_error([&] { load_config(dir.path(""), {}); }) ==
        "cannot read config file '" + dir.path("") + "': Is a directory");
}

TEST_CASE("--set train.steps below the file's train.warmup clamps the warm-up with a notice", "[config]") {
  const TempDir dir;
  const std::string cfg = dir.write("warm.json", R"({"train": {"steps": 100, "warmup": 30}})");
  std::vector<std::string> notices;
  const Config c = load_config(cfg, {"train.steps=20"}, &notices);
  CHECK(c.train.steps == 20);
  CHECK(c.train.warmup == 20);
  REQUIRE(notices.size() == 1);
  CHECK(notices[0] == "train.warmup 30 of " + cfg + " is more than train.steps=20; clamped to train.warmup=20");
  // No notice and no change when the warm-up still fits, or when nothing is clamped on a later load.
  notices.clear();
  CHECK(load_config(cfg, {"train.steps=40"}, &notices).train.warmup == 30);
  CHECK(load_config(dir.write("resolved.json", to_json(c).dump()), {}, &notices) == c);
  CHECK(notices.empty());
  // Without a notices list the clamp still happens.
  CHECK(load_config(cfg, {"train.steps=5"}).train.warmup == 5);
  // Still refused: a file inconsistent by itself, a warm-up set explicitly, a negative warm-up or step count.
  const std::string bad = dir.write("bad.json", R"({"train": {"steps": 20, "warmup": 30}})");
  CHECK(config_error([&] { load_config(bad, {}); }) == bad + ": train.warmup (30) must be <= train.steps (20)");
  CHECK(config_error([&] { load_config(cfg, {"train.steps=20", "train.warmup=30"}); }) ==
        "--set train.warmup=30: train.warmup (30) must be <= train.steps (20)");
  CHECK(config_error([&] { load_config(cfg, {"train.warmup=-1"}); }) ==
        "--set train.warmup=-1: train.warmup must be >= 0, got -1");
  CHECK_THAT(config_error([&] { load_config(cfg, {"train.steps=-1"}); }),
             Catch::Matches("--set train.steps=-1: train.steps must be >= .*, got -1"));
}
