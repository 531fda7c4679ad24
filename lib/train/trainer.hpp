// Trainer: the single-process training loop - micro-batches with gradient accumulation, clipping, AdamW, LR
// schedule, evaluation, stability diagnostics, metrics, checkpoints, resume, graceful stop.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "config/config.hpp"
#include "data/dataset.hpp"
#include "model/model.hpp"
#include "train/optimizer.hpp"

namespace mhc::train {

struct TrainOptions {
  std::string run_dir;                              // outputs: config.resolved.json, metrics.jsonl, checkpoints/
  bool resume = false;                              // continue from the newest checkpoint of run_dir
  const std::atomic<bool>* stop_flag = nullptr;     // set by a signal: finish the step, checkpoint, return
  bool console = true;                              // one log line per log step
  std::int64_t max_consecutive_skips = 3;           // non-finite steps in a row before the run fails
};

struct TrainResult {
  std::int64_t steps_done = 0;  // completed optimizer steps (skipped ones included)
  double last_loss = 0;
  bool stopped_early = false;   // by the stop flag
};

class Trainer {
 public:
  Trainer(const config::Config& cfg, TrainOptions opts);
  ~Trainer();
  TrainResult run();

  model::Model& model() { return *model_; }

 private:
  double train_step(std::int64_t step);    // returns the step loss; gradients accumulated in the store
  double evaluate();                       // mean val loss over eval_batches
  void fill_rows(data::Split split, std::uint64_t first_row);
  std::string save(std::int64_t step);     // checkpoint of the state after `step` completed steps
  std::int64_t restore();                  // from the newest checkpoint; returns its step

  config::Config cfg_;
  TrainOptions opts_;
  std::unique_ptr<data::Dataset> data_;
  std::unique_ptr<model::Model> model_;
  std::unique_ptr<AdamW> optimizer_;
  std::vector<std::int32_t> rows_;          // (micro_batch, T + 1)
  std::int64_t consecutive_skips_ = 0;
};

// Validation loss of the model over cfg.train.eval_batches fixed val batches.
double validation_loss(model::Model& model, const data::Dataset& data, const config::Config& cfg);

}  // namespace mhc::train
