// Tests of RMSNorm: forward against the definition, finite-difference gradients of x and w, f32 vs f64, errors.
#include <catch2/catch.hpp>

#include <cmath>

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

TEST_CASE("rmsnorm gradients of x and w against finite differences", "[cpu][rmsnorm]") {
  const std::int64_t N = 4, C = 6;
  const double eps = 1e-6;
  HostTensor x = random_tensor(Shape{N, C}, "x", 2.0), w = random_tensor(Shape{C}, "w");
  HostTensor dout = random_tensor(Shape{N, C}, "dout");
  HostTensor out(DType::f64, Shape{N, C}), rstd(DType::f64, Shape{N});
  ops::rmsnorm_forward(out, rstd, x, w, eps);

  HostTensor dx = random_tensor(Shape{N, C}, "garbage");  // overwritten
  ops::rmsnorm_backward_input(dx, dout, x, w, rstd);
  HostTensor prior = random_tensor(Shape{C}, "prior");
  HostTensor dw = clone(prior);
  ops::rmsnorm_backward_weight(dw, dout, x, rstd);  // accumulates
  for (std::int64_t c = 0; c < C; ++c) dw.set(c, dw.get(c) - prior.get(c));

  auto loss = [&] {
    HostTensor o(DType::f64, Shape{N, C}), r(DType::f64, Shape{N});
    ops::rmsnorm_forward(o, r, x, w, eps);
    return dot(dout, o);
  };
  check_gradient("x", x, dx, loss);
  check_gradient("w", w, dw, loss);

  // dx may alias dout.
  HostTensor in_place = clone(dout);
  ops::rmsnorm_backward_input(in_place, in_place, x, w, rstd);
  CHECK(max_abs_diff(in_place, dx) == 0.0);
}

TEST_CASE("rmsnorm f32 agrees with f64", "[cpu][rmsnorm]") {
  const std::int64_t N = 5, C = 16;
  HostTensor x = random_tensor(Shape{N, C}, "x"), w = random_tensor(Shape{C}, "w");
  HostTensor dout = random_tensor(Shape{N, C}, "dout");
  HostTensor out(DType::f64, Shape{N, C}), rstd(DType::f64, Shape{N}), dx(DType::f64, Shape{N, C}),
      dw(DType::f64, Shape{C});
  ops::rmsnorm_forward(out, rstd, x, w, 1e-6);
  ops::rmsnorm_backward_input(dx, dout, x, w, rstd);
  ops::rmsnorm_backward_weight(dw, dout, x, rstd);

  HostTensor x32 = converted(x, DType::f32), w32 = converted(w, DType::f32), dout32 = converted(dout, DType::f32);
  HostTensor out32(DType::f32, Shape{N, C}), rstd32(DType::f32, Shape{N}), dx32(DType::f32, Shape{N, C}),
      dw32(DType::f32, Shape{C});
  ops::rmsnorm_forward(out32, rstd32, x32, w32, 1e-6);
  ops::rmsnorm_backward_input(dx32, dout32, x32, w32, rstd32);
  ops::rmsnorm_backward_weight(dw32, dout32, x32, rstd32);
  CHECK(max_abs_diff(out32, out) < 1e-5);
  CHECK(max_abs_diff(rstd32, rstd) < 1e-5);
  CHECK(max_abs_diff(dx32, dx) < 1e-5);
  CHECK(max_abs_diff(dw32, dw) < 1e-5);
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
