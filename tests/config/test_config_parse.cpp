// Tests of parse_config and to_json: defaults, round trips, unknown keys, wrong types, ranges and cross-field checks.
#include <catch2/catch.hpp>
#include <functional>
#include <utility>
#include <vector>

#include "config_test_util.hpp"

using namespace mhc::config;
using mhc::config::test::config_error;
using mhc::config::test::parse_error;
using mhc::config::test::parse_text;
using nlohmann::json;

TEST_CASE("the embedded default is the documented tiny mHC model and round-trips", "[config]") {
  const Config d = default_config();
  CHECK(d == Config{});
  CHECK(parse_config(json::object(), "cfg.json") == d);
  CHECK(parse_config(to_json(d), "cfg.json") == d);
  CHECK(parse_text(to_json(d).dump(2)) == d);

  const json j = to_json(d);
  std::size_t keys = 0;
  for (const auto& section : j.items()) keys += section.value().size();
  CHECK(j.size() == 7);
  CHECK(keys == 47);
  CHECK(j["model"] == json::parse(R"({"vocab_size": 256, "d_model": 128, "n_blocks": 4, "n_heads": 4,
      "ffn_hidden": 352, "seq_len": 128, "tie_embeddings": false, "rope_theta": 10000.0})"));
  CHECK(j["residual"] == json::parse(R"({"type": "mhc", "n_streams": 4, "sinkhorn_iters": 20, "alpha_init": 0.01,
      "bias_init": "identity", "head_merge": "sum", "phi_init": "xavier"})"));
  CHECK(j["data"] == json::parse(R"({"source": "synthetic", "path": "", "val_fraction": 0.1, "seed": 1})"));
  CHECK(j["train"] == json::parse(R"({"steps": 300, "micro_batch": 8, "micro_batches": 1, "lr": 3e-3,
      "min_lr": 3e-4, "warmup": 30, "schedule": "cosine", "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.95,
      "eps": 1e-8, "grad_clip": 1.0, "seed": 1, "eval_every": 50, "eval_batches": 4, "log_every": 10,
      "diag_every": 50, "precision": "fp32"})"));
  CHECK(j["parallel"] == json::parse(R"({"pp": 1, "dp": 1, "schedule": "1f1b", "device": "cpu", "matmul": "fp32", "layout": []})"));
  CHECK(j["recompute"] == json::parse(R"({"mhc": false, "block_layers": "auto"})"));
  CHECK(j["checkpoint"] == json::parse(R"({"every": 0, "keep": 2})"));
}

TEST_CASE("a config with every key changed round-trips through to_json and text", "[config]") {
  const std::string text = R"({
    "model": {"vocab_size": 256, "d_model": 96, "n_blocks": 6, "n_heads": 3, "ffn_hidden": 256, "seq_len": 64,
              "tie_embeddings": true, "rope_theta": 500000.0},
    "residual": {"type": "hc", "n_streams": 2, "sinkhorn_iters": 7, "alpha_init": 0.05, "bias_init": "zero",
                 "head_merge": "gate", "phi_init": "zero"},
    "data": {"source": "text", "path": "input.txt", "val_fraction": 0.25, "seed": 18446744073709551615},
    "train": {"steps": 1000, "micro_batch": 4, "micro_batches": 8, "lr": 6e-4, "min_lr": 0.0, "warmup": 0,
              "schedule": "step", "weight_decay": 0.0, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6, "grad_clip": 0.0,
              "seed": 7, "eval_every": 0, "eval_batches": 2, "log_every": 1, "diag_every": 0, "precision": "fp32"},
    "parallel": {"pp": 2, "dp": 3, "schedule": "dualpipev", "device": "cuda", "matmul": "tf32", "layout": [2, 1, 1, 2]},
    "recompute": {"mhc": true, "block_layers": 3},
    "checkpoint": {"every": 100, "keep": 5}
  })";
  const Config c = parse_text(text);
  CHECK(c != default_config());
  CHECK(c.residual.type == mhc::model::connection_kind("hc"));
  CHECK(c.data.seed == 18446744073709551615ULL);
  CHECK(c.parallel.schedule == mhc::dist::ScheduleKind::dualpipev);
  CHECK(c.parallel.layout == std::vector<std::int64_t>{2, 1, 1, 2});
  CHECK(c.recompute.block_layers == "3");
  CHECK(c.recompute.block_layers_value() == 3);
  CHECK(to_json(c)["recompute"]["block_layers"] == 3);
  CHECK(to_json(c) == json::parse(text));
  CHECK(parse_config(to_json(c), "cfg.json") == c);
  CHECK(parse_text(to_json(c).dump()) == c);
}

TEST_CASE("equality compares every field", "[config]") {
  const std::vector<std::function<void(Config&)>> changes{
      [](Config& c) { c.model.vocab_size = 1; },
      [](Config& c) { c.model.d_model = 1; },
      [](Config& c) { c.model.n_blocks = 1; },
      [](Config& c) { c.model.n_heads = 1; },
      [](Config& c) { c.model.ffn_hidden = 1; },
      [](Config& c) { c.model.seq_len = 1; },
      [](Config& c) { c.model.tie_embeddings = true; },
      [](Config& c) { c.model.rope_theta = 1; },
      [](Config& c) { c.residual.type = mhc::model::connection_kind("hc"); },
      [](Config& c) { c.residual.n_streams = 1; },
      [](Config& c) { c.residual.sinkhorn_iters = 1; },
      [](Config& c) { c.residual.alpha_init = 1; },
      [](Config& c) { c.residual.bias_init = mhc::ops::MhcInit::Bias::zero; },
      [](Config& c) { c.residual.head_merge = HeadMerge::gate; },
      [](Config& c) { c.residual.phi_init = mhc::ops::MhcInit::Phi::zero; },
      [](Config& c) { c.data.source = DataSource::text; },
      [](Config& c) { c.data.path = "x"; },
      [](Config& c) { c.data.val_fraction = 0.5; },
      [](Config& c) { c.data.seed = 2; },
      [](Config& c) { c.train.steps = 1; },
      [](Config& c) { c.train.micro_batch = 1; },
      [](Config& c) { c.train.micro_batches = 2; },
      [](Config& c) { c.train.lr = 1; },
      [](Config& c) { c.train.min_lr = 1; },
      [](Config& c) { c.train.warmup = 1; },
      [](Config& c) { c.train.schedule = mhc::train::LrScheduleKind::step; },
      [](Config& c) { c.train.weight_decay = 1; },
      [](Config& c) { c.train.beta1 = 0.5; },
      [](Config& c) { c.train.beta2 = 0.5; },
      [](Config& c) { c.train.eps = 1; },
      [](Config& c) { c.train.grad_clip = 2; },
      [](Config& c) { c.train.seed = 2; },
      [](Config& c) { c.train.eval_every = 1; },
      [](Config& c) { c.train.eval_batches = 1; },
      [](Config& c) { c.train.log_every = 1; },
      [](Config& c) { c.train.diag_every = 1; },
      [](Config& c) { c.train.precision = mhc::Precision::bf16; },
      [](Config& c) { c.parallel.pp = 2; },
      [](Config& c) { c.parallel.dp = 2; },
      [](Config& c) { c.parallel.schedule = mhc::dist::ScheduleKind::dualpipe; },
      [](Config& c) { c.parallel.device = mhc::Device::cuda; },
      [](Config& c) { c.parallel.matmul = mhc::ops::MatmulPrecision::tf32; },
      [](Config& c) { c.parallel.layout = {4}; },
      [](Config& c) { c.recompute.mhc = true; },
      [](Config& c) { c.recompute.block_layers = "stage"; },
      [](Config& c) { c.checkpoint.every = 1; },
      [](Config& c) { c.checkpoint.keep = 1; },
  };
  CHECK(changes.size() == 47);
  for (std::size_t i = 0; i < changes.size(); ++i) {
    Config c = default_config();
    changes[i](c);
    INFO("change " << i);
    CHECK(c != default_config());
  }
}

TEST_CASE("absent keys take defaults, some resolved from the keys that are given", "[config]") {
  CHECK(parse_text(R"({"residual": {"type": "residual"}})").residual.n_streams == 1);
  CHECK(parse_text(R"({"residual": {"type": "hc"}})").residual.n_streams == 4);
  CHECK(parse_text(R"({"residual": {"type": "mhc", "n_streams": 2}})").residual.n_streams == 2);
  const Config c = parse_text(R"({"train": {"lr": 1e-3, "steps": 55}, "model": {"d_model": 64}})");
  CHECK(c.train.min_lr == 1e-4);
  CHECK(c.train.warmup == 5);
  CHECK(c.model.d_model == 64);
  CHECK(c.model.n_heads == 4);
  CHECK(c.residual == ResidualConfig{});
  CHECK(parse_text(R"({"train": {"steps": 1e3}})").train.steps == 1000);  // integral floats are integers
  CHECK(parse_text(R"({"train": {"lr": 1}})").train.lr == 1.0);           // integers are numbers
}

TEST_CASE("unknown keys and sections name the full path and suggest the nearest valid key", "[config]") {
  CHECK(parse_error(R"({"residual": {"n_stream": 3}})") ==
        "unknown key 'residual.n_stream' in cfg.json; did you mean 'residual.n_streams'?");
  CHECK(parse_error(R"({"residul": {"type": "hc"}})") ==
        "unknown section 'residul' in cfg.json; did you mean 'residual'?");
  CHECK(parse_error(R"({"lr": 0.1})") == "unknown section 'lr' in cfg.json; did you mean 'train.lr'?");
  CHECK(parse_error(R"({"model": {"seed": 1}})") ==
        "unknown key 'model.seed' in cfg.json; did you mean 'data.seed' or 'train.seed'?");
  CHECK(parse_error(R"({"model": {"n_stream": 2}})") ==
        "unknown key 'model.n_stream' in cfg.json; did you mean 'residual.n_streams'?");
  CHECK(parse_error(R"({"train": {"warmup_steps": 10}})") ==
        "unknown key 'train.warmup_steps' in cfg.json; did you mean 'train.warmup'?");
  CHECK(parse_error(R"({"train": {"ler": 0.1}})") == "unknown key 'train.ler' in cfg.json; did you mean 'train.lr'?");
  CHECK(parse_error(R"({"train": {"zzzz": 1}})") ==
        "unknown key 'train.zzzz' in cfg.json; valid keys in 'train': beta1, beta2, diag_every, eps, eval_batches, "
        "eval_every, grad_clip, log_every, lr, micro_batch, micro_batches, min_lr, precision, schedule, seed, steps, "
        "warmup, weight_decay");
  CHECK(parse_error(R"({"foo": {}})") ==
        "unknown section 'foo' in cfg.json; valid sections: checkpoint, data, model, parallel, recompute, residual, "
        "train");
}

TEST_CASE("wrong types name the path and the offending value", "[config]") {
  CHECK(parse_error(R"({"train": {"lr": "abc"}})") == R"(cfg.json: train.lr must be a number, got "abc")");
  CHECK(parse_error(R"({"train": {"steps": 3.5}})") == "cfg.json: train.steps must be an integer, got 3.5");
  CHECK(parse_error(R"({"train": {"steps": null}})") == "cfg.json: train.steps must be an integer, got null");
  CHECK(parse_error(R"({"train": {"steps": 9223372036854775808}})") ==
        "cfg.json: train.steps must be an integer below 2^63, got 9223372036854775808");
  CHECK(parse_error(R"({"residual": {"type": "mhc2"}})") ==
        "cfg.json: residual.type must be one of " + mhc::model::connection_kind_choices() + R"(, got "mhc2")");
  CHECK(mhc::model::connection_kind_choices().rfind(R"("residual", "hc", "mhc")", 0) == 0);
  CHECK(parse_error(R"({"parallel": {"schedule": 1}})") ==
        R"(cfg.json: parallel.schedule must be one of "1f1b", "dualpipe", "dualpipev", got 1)");
  CHECK(parse_error(R"({"model": {"tie_embeddings": 1}})") ==
        "cfg.json: model.tie_embeddings must be true or false, got 1");
  CHECK(parse_error(R"({"data": {"path": 5}})") == "cfg.json: data.path must be a string, got 5");
  CHECK(parse_error(R"({"data": {"seed": -1}})") == "cfg.json: data.seed must be a non-negative integer, got -1");
  CHECK(parse_error(R"({"parallel": {"layout": 4}})") == "cfg.json: parallel.layout must be a list of integers, got 4");
  CHECK(parse_error(R"({"parallel": {"layout": [2, 2.5]}})") ==
        "cfg.json: parallel.layout[1] must be an integer, got 2.5");
  CHECK(parse_error(R"({"model": 3})") == "cfg.json: model must be a JSON object, got 3");
  CHECK(parse_error("[1, 2]") == "cfg.json: the top level must be a JSON object, got [1,2]");
  const std::string long_text(100, 'x');
  CHECK(parse_error(R"({"train": {"lr": ")" + long_text + "\"}}") ==
        "cfg.json: train.lr must be a number, got \"" + std::string(56, 'x') + "...");
}

TEST_CASE("recompute.block_layers takes auto, stage or a positive integer", "[config]") {
  CHECK(parse_text(R"({"recompute": {"block_layers": "stage"}})").recompute.block_layers == "stage");
  CHECK(parse_text(R"({"recompute": {"block_layers": 2}})").recompute.block_layers == "2");
  CHECK(parse_text(R"({"recompute": {"block_layers": "02"}})").recompute.block_layers == "2");
  for (const char* bad : {"0", "-1", "2.5", "\"x\"", "\"\"", "true"}) {
    INFO(bad);
    CHECK(parse_error(std::string(R"({"recompute": {"block_layers": )") + bad + "}}") ==
          std::string(R"(cfg.json: recompute.block_layers must be "auto", "stage" or a positive integer, got )") +
              json::parse(bad).dump());
  }
  RecomputeConfig rc;
  CHECK(rc.block_layers_value() == 0);
  rc.block_layers = "stage";
  CHECK(rc.block_layers_value() == 0);
  rc.block_layers = "12";
  CHECK(rc.block_layers_value() == 12);
  rc.block_layers = "many";
  CHECK(config_error([&] { rc.block_layers_value(); }) ==
        R"(recompute.block_layers must be "auto", "stage" or a positive integer, got "many")");
}

TEST_CASE("values out of range name the path and the value", "[config]") {
  const std::vector<std::pair<const char*, const char*>> cases{
      {R"({"model": {"vocab_size": 0}})", "cfg.json: model.vocab_size must be >= 1, got 0"},
      {R"({"model": {"d_model": 0}})", "cfg.json: model.d_model must be >= 1, got 0"},
      {R"({"model": {"n_blocks": -2}})", "cfg.json: model.n_blocks must be >= 1, got -2"},
      {R"({"model": {"n_heads": 0}})", "cfg.json: model.n_heads must be >= 1, got 0"},
      {R"({"model": {"ffn_hidden": 0}})", "cfg.json: model.ffn_hidden must be >= 1, got 0"},
      {R"({"model": {"seq_len": 0}})", "cfg.json: model.seq_len must be >= 1, got 0"},
      {R"({"model": {"rope_theta": -1}})", "cfg.json: model.rope_theta must be > 0, got -1.0"},
      {R"({"residual": {"n_streams": 9}})", "cfg.json: residual.n_streams must be between 1 and 8, got 9"},
      {R"({"residual": {"n_streams": 0}})", "cfg.json: residual.n_streams must be between 1 and 8, got 0"},
      {R"({"residual": {"sinkhorn_iters": 0}})", "cfg.json: residual.sinkhorn_iters must be >= 1, got 0"},
      {R"({"residual": {"alpha_init": -0.5}})", "cfg.json: residual.alpha_init must be >= 0, got -0.5"},
      {R"({"data": {"val_fraction": 1}})", "cfg.json: data.val_fraction must be >= 0 and < 1, got 1.0"},
      {R"({"data": {"val_fraction": -0.1}})", "cfg.json: data.val_fraction must be >= 0 and < 1, got -0.1"},
      {R"({"train": {"steps": 0}})", "cfg.json: train.steps must be >= 1, got 0"},
      {R"({"train": {"micro_batch": 0}})", "cfg.json: train.micro_batch must be >= 1, got 0"},
      {R"({"train": {"micro_batches": 0}})", "cfg.json: train.micro_batches must be >= 1, got 0"},
      {R"({"train": {"lr": 0}})", "cfg.json: train.lr must be > 0, got 0.0"},
      {R"({"train": {"min_lr": -1e-4}})", "cfg.json: train.min_lr must be >= 0, got -0.0001"},
      {R"({"train": {"warmup": -1}})", "cfg.json: train.warmup must be >= 0, got -1"},
      {R"({"train": {"weight_decay": -0.1}})", "cfg.json: train.weight_decay must be >= 0, got -0.1"},
      {R"({"train": {"beta1": 1.0}})", "cfg.json: train.beta1 must be >= 0 and < 1, got 1.0"},
      {R"({"train": {"beta2": -0.9}})", "cfg.json: train.beta2 must be >= 0 and < 1, got -0.9"},
      {R"({"train": {"eps": 0}})", "cfg.json: train.eps must be > 0, got 0.0"},
      {R"({"train": {"grad_clip": -1}})", "cfg.json: train.grad_clip must be >= 0, got -1.0"},
      {R"({"train": {"eval_every": -1}})", "cfg.json: train.eval_every must be >= 0, got -1"},
      {R"({"train": {"eval_batches": 0}})", "cfg.json: train.eval_batches must be >= 1, got 0"},
      {R"({"train": {"log_every": 0}})", "cfg.json: train.log_every must be >= 1, got 0"},
      {R"({"train": {"diag_every": -5}})", "cfg.json: train.diag_every must be >= 0, got -5"},
      {R"({"parallel": {"pp": 0}})", "cfg.json: parallel.pp must be >= 1, got 0"},
      {R"({"parallel": {"dp": 0}})", "cfg.json: parallel.dp must be >= 1, got 0"},
      {R"({"parallel": {"pp": 2, "layout": [4, 0]}})", "cfg.json: parallel.layout[1] must be >= 1, got 0"},
      {R"({"checkpoint": {"every": -1}})", "cfg.json: checkpoint.every must be >= 0, got -1"},
      {R"({"checkpoint": {"keep": 0}})", "cfg.json: checkpoint.keep must be >= 1, got 0"},
  };
  for (const auto& [text, message] : cases) {
    INFO(text);
    CHECK(parse_error(text) == message);
  }
}

TEST_CASE("inconsistent combinations say what to change", "[config]") {
  const std::vector<std::pair<const char*, const char*>> cases{
      {R"({"model": {"d_model": 130}})", "cfg.json: model.d_model (130) must be divisible by model.n_heads (4)"},
      {R"({"model": {"d_model": 12}})",
       "cfg.json: the head size model.d_model / model.n_heads = 12 / 4 = 3 must be even for RoPE; change "
       "model.d_model or model.n_heads"},
      {R"({"residual": {"type": "residual", "n_streams": 4}})",
       R"(cfg.json: residual.type "residual" needs residual.n_streams = 1, got 4; set residual.n_streams to 1 or )"
       R"(residual.type to an n-stream type such as "mhc")"},
      {R"({"residual": {"head_merge": "gate", "n_streams": 1}})",
       R"(cfg.json: residual.head_merge "gate" needs residual.n_streams > 1, got 1; use residual.head_merge "sum")"},
      {R"({"data": {"source": "text"}})", R"(cfg.json: data.source "text" needs data.path (the input file))"},
      {R"({"data": {"source": "tokens"}})", R"(cfg.json: data.source "tokens" needs data.path (the input file))"},
      {R"({"data": {"path": "in.txt"}})",
       R"(cfg.json: data.path is "in.txt" but data.source "synthetic" reads no file; set data.source to "text" or )"
       R"("tokens", or data.path to "")"},
      {R"({"data": {"source": "text", "path": "in.txt"}, "model": {"vocab_size": 512}})",
       R"(cfg.json: model.vocab_size must be 256 for data.source "text" (byte-level tokens), got 512)"},
      {R"({"train": {"lr": 1e-3, "min_lr": 1e-2}})", "cfg.json: train.min_lr (0.01) must be <= train.lr (0.001)"},
      {R"({"train": {"steps": 20, "warmup": 30}})", "cfg.json: train.warmup (30) must be <= train.steps (20)"},
      {R"({"data": {"val_fraction": 0}})",
       "cfg.json: train.eval_every is 50 but data.val_fraction is 0, so there is no validation data; set "
       "data.val_fraction > 0 or train.eval_every to 0"},
      {R"({"parallel": {"pp": 2, "layout": [4]}})",
       "cfg.json: parallel.layout has 1 entry but there are 2 pipeline stages (parallel.pp); give one block count "
       "per stage"},
      {R"({"parallel": {"pp": 2, "schedule": "dualpipev", "layout": [1, 1, 2]}, "train": {"micro_batches": 4}})",
       R"(cfg.json: parallel.layout has 3 entries but there are 4 pipeline stages (2 * parallel.pp for )"
       R"(parallel.schedule "dualpipev"); give one block count per stage)"},
      {R"({"parallel": {"pp": 2, "layout": [2, 3]}})",
       "cfg.json: parallel.layout [2,3] sums to 5 blocks but model.n_blocks is 4"},
      {R"({"parallel": {"pp": 8}})",
       "cfg.json: model.n_blocks (4) is less than the 8 pipeline stages (parallel.pp); every stage needs at least "
       "one block"},
      {R"({"parallel": {"pp": 3, "schedule": "dualpipev"}, "train": {"micro_batches": 6}})",
       R"(cfg.json: model.n_blocks (4) is less than the 6 pipeline stages (2 * parallel.pp for parallel.schedule )"
       R"("dualpipev"); every stage needs at least one block)"},
      {R"({"parallel": {"pp": 3, "schedule": "dualpipe"}, "train": {"micro_batches": 6}})",
       R"(cfg.json: parallel.schedule "dualpipe" needs an even parallel.pp, got 3)"},
      {R"({"parallel": {"pp": 2, "schedule": "dualpipe"}, "train": {"micro_batches": 3}})",
       R"(cfg.json: parallel.schedule "dualpipe" needs train.micro_batches even and >= 2 * parallel.pp = 4, got 3)"},
      {R"({"parallel": {"pp": 2, "schedule": "dualpipe"}, "train": {"micro_batches": 2}})",
       R"(cfg.json: parallel.schedule "dualpipe" needs train.micro_batches even and >= 2 * parallel.pp = 4, got 2)"},
      {R"({"parallel": {"pp": 2, "schedule": "dualpipev"}, "train": {"micro_batches": 3}})",
       R"(cfg.json: parallel.schedule "dualpipev" needs train.micro_batches >= 2 * parallel.pp = 4, got 3)"},
      {R"({"parallel": {"matmul": "tf32"}})",
       R"(cfg.json: parallel.matmul "tf32" uses GPU tensor cores but parallel.device is "cpu"; set parallel.device )"
       R"(to "cuda" or parallel.matmul to "fp32")"},
      {R"({"train": {"precision": "bf16"}, "parallel": {"device": "cuda"}})",
       R"(cfg.json: train.precision "bf16" runs on the CPU only so far (the CUDA bf16 kernels are not written yet); )"
       R"(set parallel.device to "cpu" or train.precision to "fp32")"},
      {R"({"train": {"precision": "fp16"}})", R"(cfg.json: train.precision must be one of "fp32", "bf16", got "fp16")"},
      {R"({"residual": {"type": "residual"}, "recompute": {"mhc": true}})",
       R"(cfg.json: recompute.mhc is true but residual.type "residual" has nothing to recompute; set recompute.mhc )"
       R"(to false)"},
  };
  for (const auto& [text, message] : cases) {
    INFO(text);
    CHECK(parse_error(text) == message);
  }
  // The same combinations made consistent are accepted.
  CHECK_NOTHROW(parse_text(R"({"residual": {"type": "hc", "n_streams": 1}})"));
  CHECK_NOTHROW(parse_text(R"({"data": {"val_fraction": 0}, "train": {"eval_every": 0}})"));
  CHECK_NOTHROW(parse_text(R"({"train": {"steps": 20}})"));
  CHECK_NOTHROW(parse_text(R"({"parallel": {"pp": 2, "schedule": "dualpipe"}, "train": {"micro_batches": 4}})"));
  CHECK_NOTHROW(parse_text(R"({"recompute": {"mhc": true, "block_layers": 64}})"));  // any positive integer
}

TEST_CASE("pipeline stages and the resolved layout", "[config]") {
  Config c = default_config();
  CHECK(c.parallel.num_stages() == 1);
  CHECK(resolved_layout(c) == std::vector<std::int64_t>{4});
  c = parse_text(R"({"parallel": {"pp": 3}})");
  CHECK(resolved_layout(c) == std::vector<std::int64_t>{2, 1, 1});
  c = parse_text(R"({"model": {"n_blocks": 6}, "parallel": {"pp": 2, "schedule": "dualpipev"},
                     "train": {"micro_batches": 4}})");
  CHECK(c.parallel.num_stages() == 4);
  CHECK(resolved_layout(c) == std::vector<std::int64_t>{2, 2, 1, 1});
  c = parse_text(R"({"parallel": {"pp": 2, "layout": [1, 3]}})");
  CHECK(resolved_layout(c) == std::vector<std::int64_t>{1, 3});
}

TEST_CASE("enum values print as their JSON spelling", "[config]") {
  CHECK(to_string(mhc::ops::MhcInit::Bias::identity) == "identity");
  CHECK(to_string(HeadMerge::gate) == "gate");
  CHECK(to_string(mhc::ops::MhcInit::Phi::xavier) == "xavier");
  CHECK(to_string(DataSource::tokens) == "tokens");
  CHECK(to_string(mhc::train::LrScheduleKind::constant) == "constant");
  // The schedule and the device are spelled by their own layers (dist::to_string, device_name).
  Config c;
  c.parallel.schedule = mhc::dist::ScheduleKind::one_f_one_b;
  c.parallel.device = mhc::Device::cuda;
  const nlohmann::json j = to_json(c);
  CHECK(j["parallel"]["schedule"] == "1f1b");
  CHECK(j["parallel"]["device"] == "cuda");
}
