// Tests of the AdamW step: a hand-computed two-step example, zero-gradient invariance, f32 vs f64, errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "ops/adamw.hpp"
#include "support/gradcheck.hpp"
#include "support/op_testing.hpp"

using namespace mhc;
using namespace mhc::test;

namespace {

HostTensor f64_values(std::initializer_list<double> values) {
  HostTensor t(DType::f64, Shape{static_cast<std::int64_t>(values.size())});
  std::int64_t k = 0;
  for (double v : values) t.set(k++, v);
  return t;
}

}  // namespace

TEST_CASE("adamw matches a hand-computed two-step example", "[cpu][adamw]") {
  // lr 0.1, betas (0.9, 0.999), eps 1e-8, weight decay 0.1 => decay factor 1 - lr * wd = 0.99 per step.
  ops::AdamWParams p{0.1, 0.9, 0.999, 1e-8, 0.1, 1};
  HostTensor param = f64_values({1.0, -0.5, 2.0});
  HostTensor m(DType::f64, Shape{3}), v(DType::f64, Shape{3});

  // Step 1, grads (0.5, 0, -1): m = 0.1 g, v = 0.001 g^2, so m_hat = g, sqrt(v_hat) = |g| and the update is
  // lr * g / (|g| + eps): param = 0.99 p0 - 0.1 g / (|g| + 1e-8).
  ops::adamw_step(param, f64_values({0.5, 0.0, -1.0}), m, v, p);
  CHECK(param.get(0) == Approx(0.99 - 0.1 * 0.5 / (0.5 + 1e-8)).epsilon(1e-15));  // 0.89000000199999996
  CHECK(param.get(1) == Approx(-0.495).epsilon(1e-15));                            // zero grad: decay only
  CHECK(param.get(2) == Approx(1.98 + 0.1 / (1.0 + 1e-8)).epsilon(1e-15));       // 2.079999999000000010
  CHECK(m.get(0) == Approx(0.05).epsilon(1e-15));
  CHECK(v.get(2) == Approx(0.001).epsilon(1e-15));

  // Step 2, grads (-0.25, 0, 3): element 0: m = 0.9 * 0.05 - 0.1 * 0.25 = 0.02,
  // v = 0.999 * 0.00025 + 0.001 * 0.0625 = 0.00031225, bias corrections 1 - 0.9^2 = 0.19 and 1 - 0.999^2 = 0.001999.
  // Element 2: m = -0.09 + 0.3 = 0.21, v = 0.000999 + 0.009 = 0.009999.
  p.step = 2;
  ops::adamw_step(param, f64_values({-0.25, 0.0, 3.0}), m, v, p);
  CHECK(m.get(0) == Approx(0.02).epsilon(1e-14));
  CHECK(v.get(0) == Approx(0.00031225).epsilon(1e-14));
  CHECK(m.get(2) == Approx(0.21).epsilon(1e-14));
  CHECK(v.get(2) == Approx(0.009999).epsilon(1e-14));
  CHECK(m.get(1) == 0.0);
  CHECK(v.get(1) == 0.0);
  // 0.99 * 0.89000000199999996 - 0.1 * (0.02 / 0.19) / (sqrt(0.00031225 / 0.001999) + 1e-8)
  CHECK(param.get(0) == Approx(0.85446629868784616296).epsilon(1e-14));
  CHECK(param.get(1) == Approx(-0.49005).epsilon(1e-15));
  // 0.99 * 2.07999999900000001 - 0.1 * (0.21 / 0.19) / (sqrt(0.009999 / 0.001999) + 1e-8)
  CHECK(param.get(2) == Approx(2.00978101590125550721).epsilon(1e-14));
}

TEST_CASE("adamw with weight_decay 0 leaves a zero-gradient parameter unchanged", "[cpu][adamw]") {
  HostTensor param = random_tensor(Shape{4, 5}, "param", 1.0, DType::f32);
  const HostTensor before = clone(param);
  HostTensor grad(DType::f32, Shape{4, 5}), m(DType::f32, Shape{4, 5}), v(DType::f32, Shape{4, 5});
  ops::AdamWParams p{1e-3, 0.9, 0.95, 1e-8, 0.0, 1};
  for (p.step = 1; p.step <= 3; ++p.step) ops::adamw_step(param, grad, m, v, p);
  CHECK(max_abs_diff(param, before) == 0.0);
  for (std::int64_t k = 0; k < m.numel(); ++k) {
    CHECK(m.get(k) == 0.0);
    CHECK(v.get(k) == 0.0);
  }
}

TEST_CASE("adamw f32 agrees with f64", "[cpu][adamw]") {
  const Shape s{3, 7};
  HostTensor param = random_tensor(s, "param"), m(DType::f64, s), v(DType::f64, s);
  HostTensor param32 = converted(param, DType::f32), m32(DType::f32, s), v32(DType::f32, s);
  ops::AdamWParams p{1e-2, 0.9, 0.95, 1e-8, 0.1, 1};
  for (p.step = 1; p.step <= 3; ++p.step) {
    const HostTensor grad = random_tensor(s, "grad" + std::to_string(p.step));
    ops::adamw_step(param, grad, m, v, p);
    ops::adamw_step(param32, converted(grad, DType::f32), m32, v32, p);
  }
  CHECK(max_abs_diff(param32, param) < 1e-6);
  CHECK(max_abs_diff(m32, m) < 1e-6);
  CHECK(max_abs_diff(v32, v) < 1e-6);
}

TEST_CASE("adamw rejects bad shapes and hyperparameters", "[cpu][adamw]") {
  HostTensor param(DType::f64, Shape{3}), grad(DType::f64, Shape{3}), m(DType::f64, Shape{3}), v(DType::f64, Shape{3});
  ops::AdamWParams p{1e-3, 0.9, 0.95, 1e-8, 0.1, 1};
  CHECK_SHAPE_ERROR(ops::adamw_step(param, grad, HostTensor(DType::f64, Shape{4}), v, p), "adamw m");
  CHECK_SHAPE_ERROR(ops::adamw_step(param, grad, m, HostTensor(DType::f32, Shape{3}), p), "adamw v (f32)");
  p.step = 0;
  CHECK_THROWS_AS(ops::adamw_step(param, grad, m, v, p), ConfigError);
  p.step = 1;
  p.beta2 = 1.0;
  CHECK_THROWS_AS(ops::adamw_step(param, grad, m, v, p), ConfigError);
}
