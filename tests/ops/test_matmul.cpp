// Tests of the GEMM entry point and the linear layer: naive products, finite-difference gradients, f32 vs f64.
#include <catch2/catch.hpp>

#include "ops/cases/matmul.hpp"
#include "ops/matmul.hpp"
#include "support/gradcheck.hpp"
#include "support/op_testing.hpp"

using namespace mhc;
using namespace mhc::test;

namespace {

// Naive alpha * op(a) op(b) + beta * c0 in double.
HostTensor naive_matmul(const HostTensor& a, const HostTensor& b, const HostTensor& c0, bool ta, bool tb,
                        double alpha, double beta) {
  const std::int64_t M = c0.view().dim(0), N = c0.view().dim(1);
  const std::int64_t K = ta ? a.view().dim(0) : a.view().dim(1);
  HostTensor c(DType::f64, Shape{M, N});
  for (std::int64_t i = 0; i < M; ++i)
    for (std::int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (std::int64_t k = 0; k < K; ++k)
        s += (ta ? a.get(k * M + i) : a.get(i * K + k)) * (tb ? b.get(j * K + k) : b.get(k * N + j));
      c.set(i * N + j, alpha * s + beta * c0.get(i * N + j));
    }
  return c;
}

}  // namespace

TEST_CASE("matmul: all transpose combinations with alpha and beta, values and gradients", "[cpu][matmul]") {
  const std::int64_t M = 3, N = 4, K = 5;
  const float alpha = 0.75f, beta = -0.5f;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      INFO("trans_a " << ta << ", trans_b " << tb);
      HostTensor a = random_tensor(ta ? Shape{K, M} : Shape{M, K}, "a");
      HostTensor b = random_tensor(tb ? Shape{N, K} : Shape{K, N}, "b");
      HostTensor c0 = random_tensor(Shape{M, N}, "c0");
      HostTensor dy = random_tensor(Shape{M, N}, "dy");

      HostTensor c = clone(c0);
      ops::matmul(c, a, b, ta, tb, alpha, beta);
      CHECK(max_abs_diff(c, naive_matmul(a, b, c0, ta, tb, alpha, beta)) < 1e-13);

      // Gradients of L = <dy, alpha op(a) op(b) + beta c0>.
      HostTensor da(DType::f64, a.view().shape), db(DType::f64, b.view().shape), dc0 = clone(dy);
      if (!ta) ops::matmul(da, dy, b, false, !tb, alpha);  // (M, K) = dy op(b)^T
      else ops::matmul(da, b, dy, tb, true, alpha);        // (K, M) = op(b) dy^T
      if (!tb) ops::matmul(db, a, dy, !ta, false, alpha);  // (K, N) = op(a)^T dy
      else ops::matmul(db, dy, a, true, ta, alpha);        // (N, K) = dy^T op(a)
      for (std::int64_t k = 0; k < dc0.numel(); ++k) dc0.set(k, beta * dy.get(k));
      auto loss = [&] {
        HostTensor out = clone(c0);
        ops::matmul(out, a, b, ta, tb, alpha, beta);
        return dot(dy, out);
      };
      check_gradient("a", a, da, loss);
      check_gradient("b", b, db, loss);
      check_gradient("c0 (beta accumulation)", c0, dc0, loss);
    }
  }
}

TEST_CASE("matmul: K = 0 scales out by beta; f32 agrees with f64", "[cpu][matmul]") {
  HostTensor a(DType::f64, Shape{3, 0}), b(DType::f64, Shape{0, 2});
  HostTensor c = random_tensor(Shape{3, 2}, "c");
  HostTensor c0 = clone(c);
  ops::matmul(c, a, b, false, false, 1.0f, 0.5f);
  for (std::int64_t k = 0; k < c.numel(); ++k) CHECK(c.get(k) == 0.5 * c0.get(k));

  HostTensor a64 = random_tensor(Shape{7, 9}, "a"), b64 = random_tensor(Shape{6, 9}, "b");
  HostTensor c64(DType::f64, Shape{7, 6}), c32(DType::f32, Shape{7, 6});
  ops::matmul(c64, a64, b64, false, true);
  ops::matmul(c32, converted(a64, DType::f32), converted(b64, DType::f32), false, true);
  CHECK(max_abs_diff(c32, c64) < 1e-5);
}

TEST_CASE("matmul: bad shapes and dtypes throw ShapeError", "[cpu][matmul]") {
  HostTensor a(DType::f64, Shape{3, 4}), b(DType::f64, Shape{5, 2}), out(DType::f64, Shape{3, 2});
  CHECK_SHAPE_ERROR(ops::matmul(out, a, b, false, false), "inner dimensions differ");
  HostTensor b2(DType::f64, Shape{4, 2}), out_bad(DType::f64, Shape{2, 3});
  CHECK_SHAPE_ERROR(ops::matmul(out_bad, a, b2, false, false), "matmul out");
  HostTensor b32(DType::f32, Shape{4, 2});
  CHECK_SHAPE_ERROR(ops::matmul(out, a, b32, false, false), "b (f32)");
  HostTensor a3(DType::f64, Shape{3, 4, 1});
  CHECK_SHAPE_ERROR(ops::matmul(out, a3, b2, false, false), "matmul a");
}

TEST_CASE("linear layer: forward, B and W gradients with accumulation", "[cpu][matmul][linear]") {
  const std::int64_t N = 4, I = 5, O = 3;
  HostTensor x = random_tensor(Shape{N, I}, "x"), w = random_tensor(Shape{O, I}, "w");
  HostTensor dy = random_tensor(Shape{N, O}, "dy");
  HostTensor y(DType::f64, Shape{N, O});
  ops::linear_forward(y, x, w);
  HostTensor zero(DType::f64, Shape{N, O});
  CHECK(max_abs_diff(y, naive_matmul(x, w, zero, false, true, 1.0, 0.0)) < 1e-13);

  check_op_gradients(linear_case(N, I, O));
  check_op_gradients(linear_case(N, I, O, /*accumulate_dx=*/true));

  HostTensor dx(DType::f64, Shape{N, I});
  ops::linear_backward_input(dx, dy, w);
  HostTensor dx_acc = clone(dx);
  ops::linear_backward_input(dx_acc, dy, w, /*accumulate=*/true);
  for (std::int64_t k = 0; k < dx.numel(); ++k) CHECK(dx_acc.get(k) == Approx(2 * dx.get(k)).epsilon(1e-14));

  CHECK_SHAPE_ERROR(ops::linear_forward(y, x, random_tensor(Shape{O, I + 1}, "w")), "inner dimensions differ");
}
