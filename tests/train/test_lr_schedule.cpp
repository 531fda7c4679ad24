// Tests of the learning-rate schedules: warmup, cosine end point and monotonicity, step boundaries, checks.
#include <catch2/catch.hpp>
#include <cmath>

#include "core/error.hpp"
#include "train/lr_schedule.hpp"

using mhc::ConfigError;
using mhc::train::learning_rate;
using mhc::train::LrScheduleParams;
using Kind = mhc::train::LrScheduleKind;

TEST_CASE("lr schedule: linear warmup lr * (step + 1) / warmup, the same for every kind", "[train][lr]") {
  for (const Kind kind : {Kind::cosine, Kind::step, Kind::constant}) {
    const LrScheduleParams p{kind, 6e-4, 6e-5, 10, 100};
    CHECK(learning_rate(0, p) == Approx(6e-5).epsilon(1e-15));
    CHECK(learning_rate(4, p) == Approx(3e-4).epsilon(1e-15));
    CHECK(learning_rate(9, p) == 6e-4);  // exactly lr at step warmup - 1
    for (std::int64_t s = 1; s < 10; ++s) CHECK(learning_rate(s, p) > learning_rate(s - 1, p));
  }
  // A fraction whose product does not round back: (3 / 3) is exactly 1, so the last warmup step is exactly lr.
  CHECK(learning_rate(2, LrScheduleParams{Kind::constant, 0.1, 0.0, 3, 10}) == 0.1);
}

TEST_CASE("lr schedule: cosine decays monotonically from lr to exactly min_lr at the last step", "[train][lr]") {
  const LrScheduleParams p{Kind::cosine, 6e-4, 6e-5, 10, 100};
  CHECK(learning_rate(10, p) == Approx(6e-4).epsilon(1e-15));  // first step after warmup
  CHECK(learning_rate(99, p) == 6e-5);                         // last step: exactly min_lr
  // 89 decay intervals from step 10 to 99: ratio 1/2 lies between steps 54 and 55, where by the symmetry of the
  // cosine the two values average to (lr + min_lr) / 2.
  CHECK(0.5 * (learning_rate(54, p) + learning_rate(55, p)) == Approx(3.3e-4).epsilon(1e-12));
  const double pi = std::acos(-1.0), ratio = (40.0 - 10.0) / 89.0;
  CHECK(learning_rate(40, p) == Approx(6e-5 + (6e-4 - 6e-5) * 0.5 * (1 + std::cos(pi * ratio))).epsilon(1e-14));
  for (std::int64_t s = 11; s < 100; ++s) {
    INFO("step " << s);
    CHECK(learning_rate(s, p) < learning_rate(s - 1, p));
    CHECK(learning_rate(s, p) >= 6e-5);
  }
  // min_lr = 0 ends at exactly 0; min_lr = lr is constant after warmup.
  CHECK(learning_rate(49, LrScheduleParams{Kind::cosine, 1e-3, 0.0, 0, 50}) == 0.0);
  for (std::int64_t s = 5; s < 20; ++s)
    CHECK(learning_rate(s, LrScheduleParams{Kind::cosine, 1e-3, 1e-3, 5, 20}) == 1e-3);
  // A single post-warmup step is the last step: min_lr.
  CHECK(learning_rate(9, LrScheduleParams{Kind::cosine, 1e-3, 1e-4, 9, 10}) == 1e-4);
}

TEST_CASE("lr schedule: DeepSeek step decay drops to 0.316 lr at 80% and 0.1 lr at 90% of the steps", "[train][lr]") {
  const LrScheduleParams p{Kind::step, 1e-3, 0.0, 20, 100};
  CHECK(learning_rate(20, p) == 1e-3);
  CHECK(learning_rate(79, p) == 1e-3);
  CHECK(learning_rate(80, p) == 1e-3 * 0.316);
  CHECK(learning_rate(89, p) == 1e-3 * 0.316);
  CHECK(learning_rate(90, p) == 1e-3 * 0.1);
  CHECK(learning_rate(99, p) == 1e-3 * 0.1);
  for (std::int64_t s = 21; s < 100; ++s) CHECK(learning_rate(s, p) <= learning_rate(s - 1, p));
  // Boundaries that are not integers round up to the next step: 80% of 15 = 12, 90% of 15 = 13.5 -> 14.
  const LrScheduleParams q{Kind::step, 1.0, 0.0, 0, 15};
  CHECK(learning_rate(11, q) == 1.0);
  CHECK(learning_rate(12, q) == 0.316);
  CHECK(learning_rate(13, q) == 0.316);
  CHECK(learning_rate(14, q) == 0.1);
  // Near 2^63 steps the boundaries hold without overflow (10 * step would wrap in 64 bits).
  const std::int64_t huge = std::int64_t{1} << 62;
  const LrScheduleParams r{Kind::step, 1.0, 0.0, 0, huge};
  CHECK(learning_rate(huge / 10 * 8 - 1, r) == 1.0);
  CHECK(learning_rate(huge - 1, r) == 0.1);
}

TEST_CASE("lr schedule: constant, and warmup 0 starts at lr", "[train][lr]") {
  for (std::int64_t s = 0; s < 30; ++s)
    CHECK(learning_rate(s, LrScheduleParams{Kind::constant, 2e-4, 0.0, 0, 30}) == 2e-4);
  CHECK(learning_rate(0, LrScheduleParams{Kind::cosine, 2e-4, 1e-5, 0, 30}) == Approx(2e-4).epsilon(1e-15));
  CHECK(learning_rate(29, LrScheduleParams{Kind::cosine, 2e-4, 1e-5, 0, 30}) == 1e-5);
  CHECK(learning_rate(0, LrScheduleParams{Kind::step, 2e-4, 0.0, 0, 30}) == 2e-4);
  // warmup = total_steps: the whole run is warmup.
  CHECK(learning_rate(9, LrScheduleParams{Kind::cosine, 1.0, 0.5, 10, 10}) == 1.0);
  // One step in total.
  CHECK(learning_rate(0, LrScheduleParams{Kind::cosine, 1.0, 0.5, 0, 1}) == 0.5);
  CHECK(learning_rate(0, LrScheduleParams{Kind::constant, 1.0, 0.5, 1, 1}) == 1.0);
}

TEST_CASE("lr schedule: invalid parameters throw ConfigError naming the field", "[train][lr]") {
  const auto rejects = [](const LrScheduleParams& p, const char* field) {
    CHECK_THROWS_AS(mhc::train::check_lr_schedule(p), ConfigError);
    CHECK_THROWS_AS(learning_rate(0, p), ConfigError);
    CHECK_THROWS_WITH(learning_rate(0, p), Catch::Contains(field));
  };
  rejects(LrScheduleParams{Kind::cosine, 1e-4, 1e-3, 10, 100}, "min_lr");  // min_lr > lr
  rejects(LrScheduleParams{Kind::cosine, 1e-3, -1e-5, 10, 100}, "min_lr");
  rejects(LrScheduleParams{Kind::cosine, -1e-3, 0.0, 10, 100}, "lr");
  rejects(LrScheduleParams{Kind::cosine, std::nan(""), 0.0, 10, 100}, "lr");
  rejects(LrScheduleParams{Kind::step, 1e-3, 0.0, 101, 100}, "warmup");  // warmup > total_steps
  rejects(LrScheduleParams{Kind::step, 1e-3, 0.0, -1, 100}, "warmup");
  rejects(LrScheduleParams{Kind::constant, 1e-3, 0.0, 0, 0}, "total_steps");
  CHECK_NOTHROW(mhc::train::check_lr_schedule(LrScheduleParams{Kind::cosine, 1e-3, 1e-3, 100, 100}));

  // A step outside [0, total_steps) is a caller bug, not a config error.
  const LrScheduleParams p{Kind::cosine, 1e-3, 1e-4, 10, 100};
  CHECK_THROWS_AS(learning_rate(100, p), mhc::Error);
  CHECK_THROWS_AS(learning_rate(-1, p), mhc::Error);
  CHECK_THROWS_WITH(learning_rate(100, p), Catch::Contains("step 100"));
}
