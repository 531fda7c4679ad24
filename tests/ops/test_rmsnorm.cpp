// Tests of RMSNorm: forward against the definition, finite-difference gradients of x and w, f32 vs f64, errors.
#include <catch2/catch.hpp>

#include <cmath>

#include "ops/cases/rmsnorm.hpp"
#include "ops/rmsnorm.hpp"
#include "support/gradcheck.hpp"
#include "support/op_testing.hpp"

using namespace mhc;
using namespace mhc::test;

TEST_CASE("rmsnorm forward matches the definition", "[cpu][rmsnorm]") {
  const std::int64_t N = 3, C = 5;
  const double eps = 1e-6;
  HostTensor x = random_tensor(Shape{N, C}, "x"), w = random_tensor(Shape{C}, "w");
  HostTensor out(DType::f64, Shape{N, C}), rstd(DType::f64, Shape{N});
  ops::rmsnorm_forward(out, rstd, x, w, eps);
  for (std::int64_t n = 0; n < N; ++n) {
    double sq = 0;
    for (std::int64_t c = 0; c < C; ++c) sq += x.get(n * C + c) * x.get(n * C + c);
    const double r = 1.0 / std::sqrt(sq / C + eps);
    CHECK(rstd.get(n) == Approx(r).epsilon(1e-14));
    for (std::int64_t c = 0; c < C; ++c)
      CHECK(out.get(n * C + c) == Approx(x.get(n * C + c) * r * w.get(c)).epsilon(1e-14));
  }
}

TEST_CASE("rmsnorm gradients of x and w against finite differences; f32 agrees with f64", "[cpu][rmsnorm]") {
  check_op_gradients(rmsnorm_case(4, 6));
  check_op_f32_vs_f64(rmsnorm_case(5, 16), 1e-5);

  // dx may alias dout.
  const HostTensor x = random_tensor(Shape{4, 6}, "x"), w = random_tensor(Shape{6}, "w");
  const HostTensor dout = random_tensor(Shape{4, 6}, "dout");
  HostTensor out(DType::f64, Shape{4, 6}), rstd(DType::f64, Shape{4}), dx(DType::f64, Shape{4, 6});
  ops::rmsnorm_forward(out, rstd, x, w, 1e-6);
  ops::rmsnorm_backward_input(dx, dout, x, w, rstd);
  HostTensor in_place = clone(dout);
  ops::rmsnorm_backward_input(in_place, in_place, x, w, rstd);
  CHECK(max_abs_diff(in_place, dx) == 0.0);
}

TEST_CASE("rmsnorm rejects bad shapes and dtypes", "[cpu][rmsnorm]") {
  HostTensor x(DType::f64, Shape{2, 3}), out(DType::f64, Shape{2, 3}), rstd(DType::f64, Shape{2});
  CHECK_SHAPE_ERROR(ops::rmsnorm_forward(out, rstd, x, HostTensor(DType::f64, Shape{4}), 1e-6), "rmsnorm w");
  CHECK_SHAPE_ERROR(ops::rmsnorm_forward(out, HostTensor(DType::f64, Shape{3}), x, HostTensor(DType::f64, Shape{3}),
                                         1e-6),
                    "rmsnorm rstd");
  CHECK_SHAPE_ERROR(ops::rmsnorm_forward(out, rstd, x, HostTensor(DType::f32, Shape{3}), 1e-6), "rmsnorm w (f32)");
  CHECK_SHAPE_ERROR(ops::rmsnorm_backward_input(HostTensor(DType::f64, Shape{3, 2}), out, x,
                                                HostTensor(DType::f64, Shape{3}), rstd),
                    "rmsnorm dx");
  CHECK_SHAPE_ERROR(ops::rmsnorm_backward_weight(HostTensor(DType::f64, Shape{2}), out, x, rstd), "rmsnorm dw");
}
