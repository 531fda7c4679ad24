// Shared by the trainer tests: a small model on the synthetic task and quiet run options.
#pragma once

#include <string>

#include "train/trainer.hpp"

namespace mhc::test {

// 16 wide, 2 heads, ffn 32, context 16, micro-batch 2, no warm-up; evaluation every step, no diagnostics.
inline config::Config small_train_config(std::int64_t steps, std::int64_t n_blocks) {
  config::Config c = config::default_config();
  c.model = config::ModelConfig{256, 16, n_blocks, 2, 32, 16, false, 10000.0};  // vocab, width, blocks, heads, ffn, T
  c.train.steps = steps;
  c.train.warmup = 0;
  c.train.micro_batch = 2;
  c.train.eval_every = 1;
  c.train.diag_every = 0;
  return c;
}

// Run options for run_dir without console output or trace.json.
inline train::TrainOptions quiet_options(const std::string& run_dir) {
  train::TrainOptions o;
  o.run_dir = run_dir;
  o.console = false;
  o.trace_steps = 0;
  return o;
}

}  // namespace mhc::test
