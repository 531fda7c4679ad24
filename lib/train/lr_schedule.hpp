// Learning-rate schedules of the trainer: linear warmup, then cosine decay, DeepSeek's multi-step decay, or constant.
#pragma once

#include <cstdint>

namespace mhc::train {

// cosine:   after warmup, a half cosine from lr (at step warmup) down to exactly min_lr at the last step
//           total_steps - 1 (llm.c's shape, ending one step earlier so that the last step gets min_lr).
// step:     DeepSeek's multi-step decay (introduced in DeepSeek LLM, arXiv 2401.02954; our choice for the mHC
//           paper setup, which trains with DeepSeek's recipe): after warmup, lr until 80% of the steps, then
//           0.316 lr (about 1/sqrt(10)) until 90%, then 0.1 lr. min_lr unused.
// constant: lr after warmup. min_lr unused.
enum class LrScheduleKind { cosine, step, constant };

struct LrScheduleParams {
  LrScheduleKind kind = LrScheduleKind::cosine;
  double lr = 0;                 // peak learning rate, >= 0
  double min_lr = 0;             // final learning rate of the cosine schedule, in [0, lr]
  std::int64_t warmup = 0;       // warmup steps, in [0, total_steps]
  std::int64_t total_steps = 0;  // optimizer steps of the run, >= 1
};

// Throws ConfigError naming the offending field unless lr >= 0, 0 <= min_lr <= lr, total_steps >= 1 and
// 0 <= warmup <= total_steps (NaN fails every check).
void check_lr_schedule(const LrScheduleParams& p);

// Learning rate of optimizer step `step` (0-based, in [0, total_steps); Error otherwise), after check_lr_schedule:
// - warmup (step < warmup), llm.c's convention: lr * ((step + 1) / warmup), i.e. lr / warmup at step 0 and exactly lr
//   at step warmup - 1; warmup = 0 skips it.
// - cosine: with d = total_steps - 1 - warmup decay intervals and ratio = (step - warmup) / d (ratio = 1 when d = 0),
//   min_lr + (lr - min_lr) * (1 + cos(pi * ratio)) / 2: about lr at step warmup, exactly min_lr at the last step.
// - step: lr while 10 * step < 8 * total_steps, 0.316 lr while 10 * step < 9 * total_steps, then 0.1 lr (exact
//   integer boundaries: with total_steps = 100 the drops happen at steps 80 and 90).
// - constant: lr.
double learning_rate(std::int64_t step, const LrScheduleParams& p);

}  // namespace mhc::train
