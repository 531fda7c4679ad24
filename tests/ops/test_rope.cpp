// Tests of RoPE: the pairing convention, identity at position 0, norm preservation, gradient, f32 vs f64, errors.
#include <catch2/catch.hpp>

#include <cmath>

#include "ops/cases/rope.hpp"
#include "ops/rope.hpp"
#include "support/gradcheck.hpp"
#include "support/op_testing.hpp"

using namespace mhc;
using namespace mhc::test;

TEST_CASE("rope rotates interleaved pairs by t * theta^(-2i/D); position 0 is the identity", "[cpu][rope]") {
  const std::int64_t B = 2, T = 4, H = 3, D = 6;
  const double theta = 10000;
  HostTensor x = random_tensor(Shape{B, T, H, D}, "x");
  HostTensor out(DType::f64, Shape{B, T, H, D});
  ops::rope_forward(out, x, theta);
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t h = 0; h < H; ++h)
        for (std::int64_t i = 0; i < D / 2; ++i) {
          const std::int64_t k = ((b * T + t) * H + h) * D + 2 * i;
          const double angle = static_cast<double>(t) * std::pow(theta, -2.0 * static_cast<double>(i) / D);
          const double x0 = x.get(k), x1 = x.get(k + 1), y0 = out.get(k), y1 = out.get(k + 1);
          if (t == 0) {
            CHECK(y0 == x0);  // exactly the identity
            CHECK(y1 == x1);
          }
          CHECK(y0 == Approx(x0 * std::cos(angle) - x1 * std::sin(angle)).epsilon(1e-14).margin(1e-15));
          CHECK(y1 == Approx(x0 * std::sin(angle) + x1 * std::cos(angle)).epsilon(1e-14).margin(1e-15));
          CHECK(y0 * y0 + y1 * y1 == Approx(x0 * x0 + x1 * x1).epsilon(1e-14));  // norm of every pair preserved
        }

  // In place (out aliases x), and backward undoes forward.
  HostTensor y = clone(x);
  ops::rope_forward(y, y, theta);
  CHECK(max_abs_diff(y, out) == 0.0);
  ops::rope_backward(y, y, theta);
  CHECK(max_abs_diff(y, x) < 1e-14);
}

TEST_CASE("rope backward against finite differences; f32 agrees with f64", "[cpu][rope]") {
  const OpCase c = rope_case(1, 5, 2, 4, 100.0);  // small theta: large angles in every pair
  check_op_gradients(c);
  check_op_f32_vs_f64(c, 1e-6);
}

TEST_CASE("rope rejects odd head dimensions and bad shapes", "[cpu][rope]") {
  HostTensor x(DType::f64, Shape{1, 2, 1, 3}), out(DType::f64, Shape{1, 2, 1, 3});
  CHECK_SHAPE_ERROR(ops::rope_forward(out, x, 10000), "must be even");
  HostTensor x4(DType::f64, Shape{1, 2, 1, 4});
  CHECK_SHAPE_ERROR(ops::rope_forward(out, x4, 10000), "rope out");
  CHECK_SHAPE_ERROR(ops::rope_backward(HostTensor(DType::f64, Shape{2, 4}), x4, 10000), "rope dx");
  CHECK_SHAPE_ERROR(ops::rope_forward(HostTensor(DType::f64, Shape{8}), HostTensor(DType::f64, Shape{8}), 10000),
                    "rope x must have rank 4");
}
