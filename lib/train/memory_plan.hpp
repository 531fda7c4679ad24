// What each pipeline rank of a config holds in memory: its stages with their micro-batch slots, its parameters, and
// the bytes of both. The pipeline executor allocates by this plan and `mhc-train plan` prints it.
#pragma once

#include <cstdint>
#include <vector>

#include "config/config.hpp"
#include "dist/schedule.hpp"
#include "model/model.hpp"

namespace mhc::train {

// One stage a rank runs and the activation slots it keeps: one Model per micro-batch in flight between its F and W.
struct StagePlan {
  int stage = 0;
  int slots = 0;
  model::StagePart part;
  std::int64_t activation_bytes = 0;  // all slots together
};

struct RankMemoryPlan {
  std::vector<model::ParamSpec> params;  // the parameters the rank holds (every stage's), in model order
  std::vector<StagePlan> stages;         // ascending stage
  std::int64_t parameter_bytes = 0;      // values (f32) and their bf16 copies (train.precision "bf16"), padded
  std::int64_t gradient_bytes = 0;       // as many
  std::int64_t optimizer_bytes = 0;      // AdamW's two moments
  std::int64_t activation_bytes = 0;     // every stage's slots
  std::int64_t total_bytes() const { return parameter_bytes + gradient_bytes + optimizer_bytes + activation_bytes; }
};

// One plan per rank of `schedule` (dist::build_schedule for cfg's parallel.schedule, parallel.pp ranks and
// train.micro_batches), with cfg's micro-batch size and recompute setting; f32 training state.
std::vector<RankMemoryPlan> rank_memory_plans(const config::Config& cfg, const dist::Schedule& schedule);
// The same with the schedule built from cfg (a single rank holding everything when parallel.pp is 1).
std::vector<RankMemoryPlan> rank_memory_plans(const config::Config& cfg);

}  // namespace mhc::train
