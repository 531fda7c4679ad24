// Trainer: the training loop on one process or many (parallel.pp pipeline ranks x parallel.dp data-parallel
// replicas) - micro-batches through the pipeline executor, data-parallel gradient sums, clipping by the global
// norm, AdamW, LR schedule, evaluation, stability diagnostics, metrics, checkpoints, resume, graceful stop.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "core/device_runtime.hpp"
#include "train/device_context.hpp"
#include "data/dataset.hpp"
#include "dist/communicator.hpp"
#include "dist/trace.hpp"
#include "model/model.hpp"
#include "train/optimizer.hpp"
#include "train/pipeline.hpp"

namespace mhc::train {

struct TrainOptions {
  std::string run_dir;                              // outputs: config.resolved.json, metrics.jsonl, checkpoints/
  bool resume = false;                              // continue from the newest checkpoint of run_dir
  const std::atomic<bool>* stop_flag = nullptr;     // set by a signal: finish the step, checkpoint, stopped.json
  bool console = true;                              // one log line per log step
  std::int64_t max_consecutive_skips = 3;           // non-finite steps in a row before the run fails
  dist::Communicator* world = nullptr;              // the job's ranks; null = dist::world()
  std::int64_t trace_steps = 10;                    // the last this many steps go to RUN_DIR/trace.json (0 = none)
  std::atomic<std::int64_t>* step_ms = nullptr;     // when set: the duration of each finished step (for a handler)
  std::vector<std::string> notices{};               // shown once at the start and recorded in run.json
};

struct TrainResult {
  std::int64_t steps_done = 0;  // completed optimizer steps (skipped ones included)
  double last_loss = 0;
  bool stopped_early = false;   // by the stop flag
};

// Written by world rank 0 into the run directory when the stop flag ended the run before train.steps, after its
// checkpoint: {"step": N, "checkpoint": DIR, "steps": train.steps}. A run that starts (or resumes) removes it, so a
// script tells a clean stop (exit 0 and this file) from a finished run (exit 0, no file) and from a failure.
constexpr const char* kStoppedMarker = "stopped.json";

// World rank w is pipeline rank w % pp of data-parallel replica w / pp. Every rank constructs the Trainer and
// calls run(); world rank 0 alone writes metrics, config.resolved.json, checkpoints and trace.json.
class Trainer {
 public:
  // ConfigError (on every rank) when the world size is not parallel.pp x parallel.dp.
  Trainer(const config::Config& cfg, TrainOptions opts);
  ~Trainer();
  TrainResult run();

  // This rank's parameters (its stages' share of the model).
  model::ParameterStore& store() { return pipeline_->store(); }

 private:
  double train_step(std::int64_t step, dist::TraceRecorder* trace);  // the step loss; gradients summed
  nlohmann::json diagnostics();            // amax and H_res statistics on val rows (world rank 0; {} elsewhere)
  void fill_rows(data::Split split, std::uint64_t first_row, std::int32_t* rows) const;
  void sum_data_parallel_gradients();
  std::string save(std::int64_t step);     // checkpoint of the state after `step` completed steps ("" off rank 0)
  std::int64_t restore();                  // from the newest checkpoint; returns its step
  bool leader() const { return world_.rank() == 0; }

  config::Config cfg_;
  TrainOptions opts_;
  dist::Communicator& world_;
  std::unique_ptr<DeviceContext> device_context_;  // parallel.device "cuda": this rank's GPU, its stream current
  std::unique_ptr<dist::Communicator> pipe_;  // the ranks of this replica's pipeline
  std::unique_ptr<dist::Communicator> data_parallel_;  // the ranks of the same pipeline rank in every replica
  // GPU runs with NCCL: data_parallel_'s ranks on NCCL, summing the gradients on the GPUs (dp > 1 only).
  std::unique_ptr<dist::Communicator> gpu_data_parallel_;
  std::unique_ptr<data::Dataset> data_;
  std::unique_ptr<PipelineExecutor> pipeline_;
  std::unique_ptr<AdamW> optimizer_;
  std::vector<std::int32_t> rows_;          // (micro_batch, T + 1)
  std::int64_t consecutive_skips_ = 0;
};

// The validation loss, the one definition shared by the trainer's periodic evaluation and `mhc-train eval`: the mean
// of forward_loss over cfg.train.eval_batches batches of `batch` rows of the val split (batch e holds val rows
// e * batch .. e * batch + batch - 1, each cfg.model.seq_len + 1 tokens; forward_loss gets them as (batch, T + 1)).
double validation_loss(const data::Dataset& data, const config::Config& cfg, std::int64_t batch,
                       const std::function<double(std::int32_t* rows)>& forward_loss);

}  // namespace mhc::train
