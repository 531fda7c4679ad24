// Learning-rate schedules: parameter checks and the per-step value (contracts in train/lr_schedule.hpp).
#include "train/lr_schedule.hpp"

#include <cmath>

#include "core/error.hpp"

namespace mhc::train {

namespace {

constexpr double kPi = 3.14159265358979323846;
// DeepSeek's multi-step decay: factor 0.316 (about 1/sqrt(10)) from 80% of the steps, 0.1 from 90%.
constexpr double kFirstStepFactor = 0.316;
constexpr double kSecondStepFactor = 0.1;

double cosine_decay(std::int64_t step, const LrScheduleParams& p) {
  const std::int64_t intervals = p.total_steps - 1 - p.warmup;
  const double ratio = intervals == 0 ? 1.0 : static_cast<double>(step - p.warmup) / static_cast<double>(intervals);
  const double coeff = 0.5 * (1.0 + std::cos(kPi * ratio));  // 1 -> 0; cos(pi) is exactly -1 in double
  return p.min_lr + (p.lr - p.min_lr) * coeff;
}

__extension__ typedef __int128 Wide;  // a GCC/Clang extension (no -Wpedantic warning with __extension__)

double step_decay(std::int64_t step, const LrScheduleParams& p) {
  const Wide tenths = static_cast<Wide>(10) * step, total = p.total_steps;  // no overflow near 2^63
  if (tenths < 8 * total) return p.lr;
  if (tenths < 9 * total) return p.lr * kFirstStepFactor;
  return p.lr * kSecondStepFactor;
}

}  // namespace

void check_lr_schedule(const LrScheduleParams& p) {
  MHC_CHECK(p.lr >= 0, ConfigError, "lr = ", p.lr, " must be >= 0");
  MHC_CHECK(p.min_lr >= 0 && p.min_lr <= p.lr, ConfigError, "min_lr = ", p.min_lr, " must be in [0, lr = ", p.lr, "]");
  MHC_CHECK(p.total_steps >= 1, ConfigError, "total_steps = ", p.total_steps, " must be >= 1");
  MHC_CHECK(p.warmup >= 0 && p.warmup <= p.total_steps, ConfigError, "warmup = ", p.warmup,
            " must be in [0, total_steps = ", p.total_steps, "]");
}

double learning_rate(std::int64_t step, const LrScheduleParams& p) {
  check_lr_schedule(p);
  MHC_CHECK(step >= 0 && step < p.total_steps, Error, "step ", step, " is outside [0, total_steps = ", p.total_steps,
            ")");
  if (step < p.warmup)
    return p.lr * (static_cast<double>(step + 1) / static_cast<double>(p.warmup));  // exact lr at the end
  switch (p.kind) {
    case LrScheduleKind::cosine:
      return cosine_decay(step, p);
    case LrScheduleKind::step:
      return step_decay(step, p);
    case LrScheduleKind::constant:
      return p.lr;
  }
  throw Error("learning_rate: unknown schedule kind");
}

}  // namespace mhc::train
