// `mhc-train eval` and `mhc-train sample`: validation loss of a checkpoint, and text generated from one.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "config/sizes.hpp"
#include "core/copy.hpp"
#include "core/host_tensor.hpp"
#include "core/rng.hpp"
#include "data/dataset.hpp"
#include "data/tokenizer.hpp"
#include "model/sampling.hpp"
#include "train/checkpoint.hpp"
#include "train/device_context.hpp"
#include "train/full_eval.hpp"
#include "train/trainer.hpp"

namespace mhc::app {

namespace {

struct InferenceFlags {
  std::string checkpoint;
  std::vector<std::string> sets;
  std::string prompt;
  std::int64_t tokens = 200;
  double temperature = 0.8;
  std::uint64_t seed = 1;
  std::int64_t top_k = 0;                // 0 = every token
  double top_p = 1.0;
  std::vector<std::int64_t> prompt_ids;  // token ids; replaces --prompt
  std::string tokenizer;                 // llm.c tokenizer file: token models print text
  bool full = false;      // eval: every window of the held-out split (or of --file)
  std::string file;       // eval --full: this file instead of the held-out split
};

// The checkpoint's own config, with --set overrides applied.
config::Config checkpoint_config(const train::LoadedCheckpoint& ck, const std::vector<std::string>& sets) {
  MHC_CHECK(ck.state.contains("config"), IoError, "checkpoint '", ck.dir, "': state.json has no config");
  return config::load_config_json(ck.state["config"], ck.dir + "/state.json (config)", sets);
}

// A model of `batch` rows holding the checkpoint's weights, on the config's device (a DeviceContext must be live for
// "cuda").
std::unique_ptr<model::Model> load_model(const train::LoadedCheckpoint& ck, const config::Config& cfg,
                                         std::int64_t batch) {
  config::check_memory(cfg, "the model of checkpoint '" + ck.dir + "'", 4, batch, 1);
  auto model = std::make_unique<model::Model>(cfg, DType::f32, cfg.train.seed, batch, cfg.parallel.device);
  std::vector<io::NamedTensor> params;
  for (const auto& s : model->store().specs()) params.push_back({s.name, model->store().param(s.name)});
  train::restore_tensors(ck.model, params, false);
  return model;
}

// The summed token loss of the first n rows of (B, T + 1): the model's mean for a full batch, else the logits of
// the n rows' inputs and their cross-entropy in double on the host.
double summed_rows_loss(model::Model& model, const std::int32_t* rows, std::int64_t n) {
  const std::int64_t B = model.batch(), T = model.seq_len(), L = T + 1;
  if (n == B)
    return model.forward_loss(Tensor(const_cast<std::int32_t*>(rows), DType::i32, Shape{B, L})) *
           static_cast<double>(B * T);
  std::vector<std::int32_t> inputs(static_cast<std::size_t>(B * T), 0);
  for (std::int64_t r = 0; r < n; ++r) std::copy(rows + r * L, rows + r * L + T, inputs.begin() + r * T);
  const Tensor logits = model.forward_logits(Tensor(inputs.data(), DType::i32, Shape{B, T}));
  const std::int64_t V = logits.shape[1];
  HostTensor host(DType::f32, Shape{n * T, V});
  copy_tensor(host.view(), logits.slice_rows(0, n * T));
  double sum = 0;
  for (std::int64_t r = 0; r < n; ++r) {
    for (std::int64_t t = 0; t < T; ++t) {
      const float* z = host.view().ptr<float>() + (r * T + t) * V;
      const double mx = *std::max_element(z, z + V);
      double e = 0;
      for (std::int64_t v = 0; v < V; ++v) e += std::exp(static_cast<double>(z[v]) - mx);
      sum += mx + std::log(e) - static_cast<double>(z[rows[r * L + t + 1]]);
    }
  }
  return sum;
}

void run_eval(const InferenceFlags& f) {
  const auto ck = train::load_checkpoint(f.checkpoint);
  const config::Config cfg = checkpoint_config(ck, f.sets);
  const train::DeviceContext gpu(cfg);
  auto model = load_model(ck, cfg, cfg.train.micro_batch);
  const std::int64_t B = model->batch(), L = cfg.model.seq_len + 1;
  nlohmann::json out{{"checkpoint", ck.dir}, {"step", ck.step}, {"precision", config::to_string(cfg.train.precision)}};
  double loss = 0;
  if (f.full) {
    std::vector<std::uint16_t> tokens;
    MHC_CHECK(!f.file.empty() || cfg.data.source != config::DataSource::synthetic, ConfigError,
              "eval --full: data.source \"synthetic\" has no held-out split to pass over (its rows are generated); "
              "give --file FILE");
    if (f.file.empty()) {
      auto split = data::split_tokens(cfg);
      tokens = std::move(split.val);
      out["data"] = "the val split of " + split.description;
    } else {
      tokens = data::read_tokens_like_data(cfg, f.file);
      out["data"] = f.file;
    }
    const auto r = train::full_pass_loss(tokens, cfg.model.seq_len, B, [&](const std::int32_t* rows, std::int64_t n) {
      return summed_rows_loss(*model, rows, n);
    });
    loss = r.loss;
    out.update({{"mode", "full"}, {"windows", r.windows}, {"tokens", r.tokens}, {"tokens_left_out", r.left_out},
                {"loss", loss}});
  } else {
    const auto data = data::make_dataset(cfg);
    loss = train::validation_loss(*data, cfg, B, [&](std::int32_t* rows) {
      return model->forward_loss(Tensor(rows, DType::i32, Shape{B, L}));
    });
    out.update({{"mode", "periodic"},
                {"data", "the val split of " + data->describe()},
                {"windows", cfg.train.eval_batches * B},
                {"tokens", cfg.train.eval_batches * B * cfg.model.seq_len},
                {"eval_batches", cfg.train.eval_batches},
                {"val_loss", loss}});
  }
  MHC_CHECK(std::isfinite(loss), Error, "checkpoint '", ck.dir, "': the validation loss is ", loss,
            " although every weight is finite (the forward pass overflows)");
  std::cout << out.dump(2) << "\n";
}

// The prompt as token ids: --prompt-ids, else the --prompt bytes (byte-level models only), else a newline.
std::vector<std::int32_t> prompt_tokens(const InferenceFlags& f, std::int64_t V) {
  std::vector<std::int32_t> tokens;
  if (!f.prompt_ids.empty()) {
    for (const std::int64_t id : f.prompt_ids) {
      MHC_CHECK(id >= 0 && id < V, ConfigError, "--prompt-ids: ", id, " is not a token of the checkpoint's model ",
                "(model.vocab_size ", V, ")");
      tokens.push_back(static_cast<std::int32_t>(id));
    }
    return tokens;
  }
  MHC_CHECK(f.prompt.empty() || V <= 256, ConfigError, "--prompt: the checkpoint's model has ", V,
            " tokens, not bytes; give the prompt as --prompt-ids 1,2,3");
  for (std::size_t i = 0; i < f.prompt.size(); ++i) {
    const auto byte = static_cast<unsigned char>(f.prompt[i]);
    MHC_CHECK(byte < V, ConfigError, "--prompt byte ", static_cast<int>(byte), " at position ", i,
              " is not a token of the checkpoint's model (model.vocab_size ", V, ")");
    tokens.push_back(byte);
  }
  if (tokens.empty()) tokens.push_back(static_cast<std::int32_t>('\n') % static_cast<std::int32_t>(V));
  return tokens;
}

// Samples token ids after the prompt; each step runs the model on the last seq_len tokens. Byte-level models
// (vocab <= 256) print text, others the token ids separated by spaces (the prompt's included), or their text with
// --tokenizer.
void run_sample(const InferenceFlags& f) {
  const auto ck = train::load_checkpoint(f.checkpoint);
  const config::Config cfg = checkpoint_config(ck, f.sets);
  const train::DeviceContext gpu(cfg);
  auto model = load_model(ck, cfg, 1);
  const std::int64_t V = cfg.model.vocab_size;
  std::vector<std::int32_t> tokens = prompt_tokens(f, V);
  const CounterRng rng(f.seed, "sample");
  std::unique_ptr<data::TokenDecoder> decoder;
  if (!f.tokenizer.empty()) decoder = std::make_unique<data::TokenDecoder>(f.tokenizer);
  // A token model's output: text through the tokenizer, else the ids separated by spaces.
  auto put = [&](std::int32_t id, bool first) {
    if (decoder) {  // ids beyond the tokenizer (a vocabulary padded past it) print as <id>
      std::cout << (id < decoder->vocab_size() ? decoder->decode(id) : "<" + std::to_string(id) + ">");
    } else {
      std::cout << (first ? "" : " ") << id;
    }
  };
  if (V <= 256) {
    std::cout << f.prompt;
  } else {
    for (std::size_t i = 0; i < tokens.size(); ++i) put(tokens[i], i == 0);
  }
  model::generate(*model, tokens, f.tokens, {f.temperature, f.top_k, f.top_p}, rng, [&](std::int32_t next) {
    if (V <= 256) {
      std::cout << static_cast<char>(next);
    } else {
      put(next, false);
    }
    std::cout << std::flush;
  });
  std::cout << "\n";
}

}  // namespace

void register_inference(CLI::App& app) {
  auto f = std::make_shared<InferenceFlags>();
  auto add_common = [&](CLI::App* cmd) {
    cmd->add_option("--checkpoint", f->checkpoint, "checkpoint directory, or a run directory (its newest checkpoint)")
        ->required()
        ->check(non_empty_path());
    cmd->add_option("--set", f->sets, "override a key of the checkpoint's config, e.g. --set data.path=...")
        ->type_name("KEY=VALUE")
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  };
  auto* eval = app.add_subcommand("eval", "validation loss of a checkpoint (JSON)");
  add_common(eval);
  auto* full = eval->add_flag("--full", f->full,
                              "every non-overlapping window of the held-out split (or of --file), not the periodic "
                              "evaluation's fixed eval_batches x micro_batch windows");
  eval->add_option("--file", f->file,
                   "with --full: evaluate this file instead (text bytes, or llm.c shards for data.source tokens)")
      ->check(non_empty_path())
      ->needs(full);
  eval->callback([f] { run_eval(*f); });

  auto* sample = app.add_subcommand("sample", "generate text from a checkpoint");
  add_common(sample);
  auto* prompt = sample->add_option("--prompt", f->prompt, "text to continue (bytes; byte-level models only)");
  sample->add_option("--prompt-ids", f->prompt_ids, "token ids to continue, e.g. 1,2,3 (any model)")
      ->delimiter(',')
      ->excludes(prompt);
  sample->add_option("--tokens", f->tokens, "tokens to generate")->check(CLI::Range(1, 1000000));
  sample->add_option("--temperature", f->temperature, "softmax temperature; 0 = greedy")
      ->check(finite_number() & CLI::Range(0.0, 100.0));
  sample->add_option("--tokenizer", f->tokenizer,
                     "token models: print text decoded with this llm.c tokenizer file (gpt2_tokenizer.bin), not ids")
      ->check(non_empty_path());
  sample->add_option("--top-k", f->top_k, "sample among the k most likely tokens; 0 = all")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{1} << 31));
  sample->add_option("--top-p", f->top_p, "sample among the most likely tokens holding this probability (nucleus)")
      ->check(finite_number() & CLI::Range(0.0, 1.0) & CLI::Validator([](std::string& t) -> std::string {
                return std::strtod(t.c_str(), nullptr) > 0 ? "" : "must be > 0, got " + t;
              }, "", "> 0"));
  sample->add_option("--seed", f->seed, "sampling seed (0 .. 2^64-1)")->check(CLI::NonNegativeNumber);
  sample->callback([f] { run_sample(*f); });
}

}  // namespace mhc::app
