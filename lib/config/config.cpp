// The embedded default, enum spellings, equality, derived values and the resolved JSON dump of a Config.
#include "config/config.hpp"

#include <nlohmann/json.hpp>
#include <tuple>

#include "config/enum_names.hpp"
#include "config/reader.hpp"
#include "core/error.hpp"

namespace mhc::config {

using nlohmann::json;

Config default_config() { return Config{}; }

std::int64_t ParallelConfig::num_stages() const { return schedule == PipelineSchedule::dualpipev ? 2 * pp : pp; }

std::int64_t RecomputeConfig::block_layers_value() const {
  if (block_layers == "auto" || block_layers == "stage") return 0;
  const auto value = detail::parse_positive_integer(block_layers);
  if (!value) {
    throw ConfigError("recompute.block_layers must be \"auto\", \"stage\" or a positive integer, got \"" +
                      block_layers + "\"");
  }
  return *value;
}

Device model_device(const Config& c) { return c.parallel.device == DeviceKind::cuda ? Device::cuda : Device::cpu; }

std::vector<std::int64_t> resolved_layout(const Config& c) {
  if (!c.parallel.layout.empty()) return c.parallel.layout;
  const std::int64_t stages = c.parallel.num_stages();
  std::vector<std::int64_t> layout(static_cast<std::size_t>(stages), c.model.n_blocks / stages);
  for (std::int64_t s = 0; s < c.model.n_blocks % stages; ++s) ++layout[static_cast<std::size_t>(s)];
  return layout;
}

std::string to_string(ResidualType v) { return detail::enum_name(v); }
std::string to_string(BiasInit v) { return detail::enum_name(v); }
std::string to_string(HeadMerge v) { return detail::enum_name(v); }
std::string to_string(PhiInit v) { return detail::enum_name(v); }
std::string to_string(DataSource v) { return detail::enum_name(v); }
std::string to_string(LrSchedule v) { return detail::enum_name(v); }
std::string to_string(PipelineSchedule v) { return detail::enum_name(v); }
std::string to_string(DeviceKind v) { return detail::enum_name(v); }
std::string to_string(MatmulPrecision v) { return detail::enum_name(v); }

bool operator==(const ModelConfig& a, const ModelConfig& b) {
  return std::tie(a.vocab_size, a.d_model, a.n_blocks, a.n_heads, a.ffn_hidden, a.seq_len, a.tie_embeddings,
                  a.rope_theta) == std::tie(b.vocab_size, b.d_model, b.n_blocks, b.n_heads, b.ffn_hidden, b.seq_len,
                                            b.tie_embeddings, b.rope_theta);
}
bool operator==(const ResidualConfig& a, const ResidualConfig& b) {
  return std::tie(a.type, a.n_streams, a.sinkhorn_iters, a.alpha_init, a.bias_init, a.head_merge, a.phi_init) ==
         std::tie(b.type, b.n_streams, b.sinkhorn_iters, b.alpha_init, b.bias_init, b.head_merge, b.phi_init);
}
bool operator==(const DataConfig& a, const DataConfig& b) {
  return std::tie(a.source, a.path, a.val_fraction, a.seed) == std::tie(b.source, b.path, b.val_fraction, b.seed);
}
bool operator==(const TrainConfig& a, const TrainConfig& b) {
  return std::tie(a.steps, a.micro_batch, a.micro_batches, a.lr, a.min_lr, a.warmup, a.schedule, a.weight_decay,
                  a.beta1, a.beta2, a.eps, a.grad_clip, a.seed, a.eval_every, a.eval_batches, a.log_every,
                  a.diag_every) == std::tie(b.steps, b.micro_batch, b.micro_batches, b.lr, b.min_lr, b.warmup,
                                            b.schedule, b.weight_decay, b.beta1, b.beta2, b.eps, b.grad_clip, b.seed,
                                            b.eval_every, b.eval_batches, b.log_every, b.diag_every);
}
bool operator==(const ParallelConfig& a, const ParallelConfig& b) {
  return std::tie(a.pp, a.dp, a.schedule, a.device, a.matmul, a.layout) ==
         std::tie(b.pp, b.dp, b.schedule, b.device, b.matmul, b.layout);
}
bool operator==(const RecomputeConfig& a, const RecomputeConfig& b) {
  return std::tie(a.mhc, a.block_layers) == std::tie(b.mhc, b.block_layers);
}
bool operator==(const CheckpointConfig& a, const CheckpointConfig& b) {
  return std::tie(a.every, a.keep) == std::tie(b.every, b.keep);
}
bool operator==(const Config& a, const Config& b) {
  return std::tie(a.model, a.residual, a.data, a.train, a.parallel, a.recompute, a.checkpoint) ==
         std::tie(b.model, b.residual, b.data, b.train, b.parallel, b.recompute, b.checkpoint);
}
bool operator!=(const Config& a, const Config& b) { return !(a == b); }

json to_json(const Config& c) {
  const ModelConfig& m = c.model;
  const ResidualConfig& r = c.residual;
  const DataConfig& d = c.data;
  const TrainConfig& t = c.train;
  const ParallelConfig& p = c.parallel;
  json block_layers = c.recompute.block_layers;
  if (const auto value = detail::parse_positive_integer(c.recompute.block_layers)) block_layers = *value;
  return json{
      {"model",
       {{"vocab_size", m.vocab_size},
        {"d_model", m.d_model},
        {"n_blocks", m.n_blocks},
        {"n_heads", m.n_heads},
        {"ffn_hidden", m.ffn_hidden},
        {"seq_len", m.seq_len},
        {"tie_embeddings", m.tie_embeddings},
        {"rope_theta", m.rope_theta}}},
      {"residual",
       {{"type", to_string(r.type)},
        {"n_streams", r.n_streams},
        {"sinkhorn_iters", r.sinkhorn_iters},
        {"alpha_init", r.alpha_init},
        {"bias_init", to_string(r.bias_init)},
        {"head_merge", to_string(r.head_merge)},
        {"phi_init", to_string(r.phi_init)}}},
      {"data", {{"source", to_string(d.source)}, {"path", d.path}, {"val_fraction", d.val_fraction}, {"seed", d.seed}}},
      {"train",
       {{"steps", t.steps},
        {"micro_batch", t.micro_batch},
        {"micro_batches", t.micro_batches},
        {"lr", t.lr},
        {"min_lr", t.min_lr},
        {"warmup", t.warmup},
        {"schedule", to_string(t.schedule)},
        {"weight_decay", t.weight_decay},
        {"beta1", t.beta1},
        {"beta2", t.beta2},
        {"eps", t.eps},
        {"grad_clip", t.grad_clip},
        {"seed", t.seed},
        {"eval_every", t.eval_every},
        {"eval_batches", t.eval_batches},
        {"log_every", t.log_every},
        {"diag_every", t.diag_every}}},
      {"parallel",
       {{"pp", p.pp},
        {"dp", p.dp},
        {"schedule", to_string(p.schedule)},
        {"device", to_string(p.device)},
        {"matmul", to_string(p.matmul)},
        {"layout", p.layout}}},
      {"recompute", {{"mhc", c.recompute.mhc}, {"block_layers", block_layers}}},
      {"checkpoint", {{"every", c.checkpoint.every}, {"keep", c.checkpoint.keep}}},
  };
}

}  // namespace mhc::config
