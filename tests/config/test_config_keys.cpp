// Tests of the field tables (lib/config/keys.hpp): every key is listed once, read into its own member, compared by
// operator==, written by to_json and round-trips. (A struct member without a field fails the build: keys.hpp.)
#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include "config/keys.hpp"
#include "config/schema.hpp"
#include "config_test_util.hpp"

using namespace mhc::config;
using nlohmann::json;

namespace {

// "section.key" of every field in the tables, in table order.
std::vector<std::string> table_paths() {
  std::vector<std::string> paths;
  detail::for_each_section([&](const auto& section) {
    std::apply([&](const auto&... f) { (paths.push_back(std::string(section.name) + "." + f.key), ...); },
               section.fields);
  });
  return paths;
}

// A valid value other than the default for one key, with the other keys it needs to be valid.
struct KeyChange {
  std::string section, key;
  json value;
  json needs = json::object();  // merged into the document as well, e.g. {"data": {"path": "in.txt"}}
};

const std::vector<KeyChange>& key_changes() {
  static const std::vector<KeyChange> changes{
      {"model", "vocab_size", 300},
      {"model", "d_model", 96},
      {"model", "n_blocks", 6},
      {"model", "n_heads", 8},
      {"model", "ffn_hidden", 256},
      {"model", "seq_len", 64},
      {"model", "tie_embeddings", true},
      {"model", "rope_theta", 500000.0},
      {"residual", "type", "hc"},
      {"residual", "n_streams", 2},
      {"residual", "sinkhorn_iters", 7},
      {"residual", "alpha_init", 0.05},
      {"residual", "bias_init", "zero"},
      {"residual", "head_merge", "gate"},
      {"residual", "phi_init", "zero"},
      {"data", "source", "text", {{"data", {{"path", "in.txt"}}}}},
      {"data", "path", "in.txt", {{"data", {{"source", "text"}}}}},
      {"data", "val_fraction", 0.25},
      {"data", "seed", 18446744073709551615ULL},
      {"train", "steps", 1000},
      {"train", "micro_batch", 4},
      {"train", "micro_batches", 2},
      {"train", "lr", 1e-3},
      {"train", "min_lr", 1e-4},
      {"train", "warmup", 10},
      {"train", "schedule", "step"},
      {"train", "weight_decay", 0.0},
      {"train", "beta1", 0.8},
      {"train", "beta2", 0.99},
      {"train", "eps", 1e-6},
      {"train", "grad_clip", 0.5},
      {"train", "seed", 7U},  // unsigned, as JSON text parses it
      {"train", "eval_every", 0},
      {"train", "eval_batches", 2},
      {"train", "log_every", 1},
      {"train", "diag_every", 0},
      {"train", "precision", "bf16"},
      {"parallel", "pp", 2},
      {"parallel", "dp", 3},
      {"parallel", "schedule", "dualpipev", {{"train", {{"micro_batches", 2}}}}},
      {"parallel", "device", "cuda"},
      {"parallel", "matmul", "tf32", {{"parallel", {{"device", "cuda"}}}}},
      {"parallel", "layout", {1, 3}, {{"parallel", {{"pp", 2}}}}},
      {"recompute", "mhc", true},
      {"recompute", "block_layers", 3},
      {"checkpoint", "every", 100},
      {"checkpoint", "keep", 5},
  };
  return changes;
}

}  // namespace

TEST_CASE("the field tables list every key of to_json exactly once", "[config]") {
  const std::vector<std::string> paths = table_paths();
  const std::set<std::string> unique(paths.begin(), paths.end());
  CHECK(unique.size() == paths.size());
  CHECK(unique == std::set<std::string>(detail::key_paths().begin(), detail::key_paths().end()));
  CHECK(detail::key_paths().size() == paths.size());
}

TEST_CASE("every key is read into its own member, compared, written and round-trips", "[config]") {
  std::set<std::string> changed;
  for (const KeyChange& change : key_changes()) changed.insert(change.section + "." + change.key);
  const std::vector<std::string> paths = table_paths();
  REQUIRE(changed == std::set<std::string>(paths.begin(), paths.end()));  // the list above covers every key
  REQUIRE(key_changes().size() == paths.size());

  const json defaults = to_json(default_config());
  for (const KeyChange& change : key_changes()) {
    INFO(change.section << "." << change.key << " = " << change.value.dump());
    REQUIRE(defaults[change.section][change.key] != change.value);

    // Only this key changed, read without validation: its member alone differs, and operator== sees it.
    json one = defaults;
    one[change.section][change.key] = change.value;
    const Config read = detail::read_keys(one, detail::Origins{"cfg.json", {}});
    CHECK(to_json(read) == one);
    CHECK(read != default_config());
    CHECK_FALSE(read == default_config());

    // Made valid with the keys it needs: parses, and round-trips through to_json and its text.
    json valid = one;
    valid.merge_patch(change.needs);
    const Config c = parse_config(valid, "cfg.json");
    CHECK(to_json(c) == valid);
    CHECK(parse_config(to_json(c), "cfg.json") == c);
    CHECK(test::parse_text(to_json(c).dump()) == c);
  }
}
