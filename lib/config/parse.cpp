// Reading a whole config document into a validated Config: unknown keys, typed values, defaults, then validation.
#include "config/parse.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "config/schema.hpp"
#include "config/validate.hpp"

namespace mhc::config {
namespace detail {

namespace {

// x rounded to 15 significant digits, so that a derived default prints as typed: 3e-3 / 10 -> 0.0003.
double round_decimal(double x) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.15g", x);
  return std::strtod(buffer, nullptr);
}

ModelConfig read_model(const json& root, const Origins& o) {
  const SectionReader s(root, "model", o);
  const ModelConfig d;
  ModelConfig m;
  m.vocab_size = s.integer("vocab_size", d.vocab_size);
  m.d_model = s.integer("d_model", d.d_model);
  m.n_blocks = s.integer("n_blocks", d.n_blocks);
  m.n_heads = s.integer("n_heads", d.n_heads);
  m.ffn_hidden = s.integer("ffn_hidden", d.ffn_hidden);
  m.seq_len = s.integer("seq_len", d.seq_len);
  m.tie_embeddings = s.boolean("tie_embeddings", d.tie_embeddings);
  m.rope_theta = s.number("rope_theta", d.rope_theta);
  return m;
}

ResidualConfig read_residual(const json& root, const Origins& o) {
  const SectionReader s(root, "residual", o);
  const ResidualConfig d;
  ResidualConfig r;
  r.type = s.choice("type", d.type);
  r.n_streams = s.integer("n_streams", r.type == ResidualType::residual ? 1 : 4);
  r.sinkhorn_iters = s.integer("sinkhorn_iters", d.sinkhorn_iters);
  r.alpha_init = s.number("alpha_init", d.alpha_init);
  r.bias_init = s.choice("bias_init", d.bias_init);
  r.head_merge = s.choice("head_merge", d.head_merge);
  r.phi_init = s.choice("phi_init", d.phi_init);
  return r;
}

DataConfig read_data(const json& root, const Origins& o) {
  const SectionReader s(root, "data", o);
  const DataConfig d;
  DataConfig data;
  data.source = s.choice("source", d.source);
  data.path = s.string("path", d.path);
  data.val_fraction = s.number("val_fraction", d.val_fraction);
  data.seed = s.unsigned_integer("seed", d.seed);
  return data;
}

TrainConfig read_train(const json& root, const Origins& o) {
  const SectionReader s(root, "train", o);
  const TrainConfig d;
  TrainConfig t;
  t.steps = s.integer("steps", d.steps);
  t.micro_batch = s.integer("micro_batch", d.micro_batch);
  t.micro_batches = s.integer("micro_batches", d.micro_batches);
  t.lr = s.number("lr", d.lr);
  t.min_lr = s.number("min_lr", round_decimal(t.lr / 10.0));
  t.warmup = s.integer("warmup", t.steps / 10);
  t.schedule = s.choice("schedule", d.schedule);
  t.weight_decay = s.number("weight_decay", d.weight_decay);
  t.beta1 = s.number("beta1", d.beta1);
  t.beta2 = s.number("beta2", d.beta2);
  t.eps = s.number("eps", d.eps);
  t.grad_clip = s.number("grad_clip", d.grad_clip);
  t.seed = s.unsigned_integer("seed", d.seed);
  t.eval_every = s.integer("eval_every", d.eval_every);
  t.eval_batches = s.integer("eval_batches", d.eval_batches);
  t.log_every = s.integer("log_every", d.log_every);
  t.diag_every = s.integer("diag_every", d.diag_every);
  return t;
}

ParallelConfig read_parallel(const json& root, const Origins& o) {
  const SectionReader s(root, "parallel", o);
  const ParallelConfig d;
  ParallelConfig p;
  p.pp = s.integer("pp", d.pp);
  p.dp = s.integer("dp", d.dp);
  p.schedule = s.choice("schedule", d.schedule);
  p.device = s.choice("device", d.device);
  p.matmul = s.choice("matmul", d.matmul);
  p.layout = s.integer_list("layout", d.layout);
  return p;
}

RecomputeConfig read_recompute(const json& root, const Origins& o) {
  const SectionReader s(root, "recompute", o);
  const RecomputeConfig d;
  RecomputeConfig rc;
  rc.mhc = s.boolean("mhc", d.mhc);
  rc.block_layers = s.block_layers("block_layers", d.block_layers);
  return rc;
}

CheckpointConfig read_checkpoint(const json& root, const Origins& o) {
  const SectionReader s(root, "checkpoint", o);
  const CheckpointConfig d;
  CheckpointConfig ck;
  ck.every = s.integer("every", d.every);
  ck.keep = s.integer("keep", d.keep);
  return ck;
}

}  // namespace

Config parse_document(const json& root, const Origins& origins) {
  expect_object(root, "the top level", origins.source);
  check_known_keys(root, origins.source);
  Config c;
  c.model = read_model(root, origins);
  c.residual = read_residual(root, origins);
  c.data = read_data(root, origins);
  c.train = read_train(root, origins);
  c.parallel = read_parallel(root, origins);
  c.recompute = read_recompute(root, origins);
  c.checkpoint = read_checkpoint(root, origins);
  validate(c, origins);
  return c;
}

}  // namespace detail

Config parse_config(const nlohmann::json& j, const std::string& source) {
  return detail::parse_document(j, detail::Origins{source, {}});
}

}  // namespace mhc::config
