// Tests of the fused softmax cross-entropy: naive log-softmax reference, ignored rows, gradient, f32, errors.
#include <catch2/catch.hpp>

#include <cmath>

#include "ops/cases/cross_entropy.hpp"
#include "ops/cross_entropy.hpp"
#include "support/gradcheck.hpp"
#include "support/op_testing.hpp"

using namespace mhc;
using namespace mhc::test;

namespace {

// Naive log-softmax of row n at column j: l[j] - log(sum exp(l)), without max shifting.
double naive_log_softmax(const HostTensor& logits, std::int64_t V, std::int64_t n, std::int64_t j) {
  double z = 0;
  for (std::int64_t c = 0; c < V; ++c) z += std::exp(logits.get(n * V + c));
  return logits.get(n * V + j) - std::log(z);
}

}  // namespace

TEST_CASE("softmax cross-entropy forward against a naive log-softmax, with ignored rows", "[cpu][xent]") {
  const std::int64_t N = 5, V = 7;
  HostTensor logits = random_tensor(Shape{N, V}, "logits", 2.0);
  HostTensor targets = i32_tensor({3, -1, 0, 6, -100});
  HostTensor loss(DType::f64, Shape{N}), lse(DType::f64, Shape{N});
  ops::softmax_xent_forward(loss, lse, logits, targets);
  for (std::int64_t n = 0; n < N; ++n) {
    const std::int32_t t = targets.ptr<std::int32_t>()[n];
    CHECK(lse.get(n) == Approx(logits.get(n * V) - naive_log_softmax(logits, V, n, 0)).epsilon(1e-14));
    if (t < 0) {
      CHECK(loss.get(n) == 0.0);
    } else {
      CHECK(loss.get(n) == Approx(-naive_log_softmax(logits, V, n, t)).epsilon(1e-13));
    }
  }

  // Stable for large logits: a shift of 1000 leaves the loss unchanged and moves lse by 1000.
  HostTensor shifted = clone(logits);
  for (std::int64_t k = 0; k < shifted.numel(); ++k) shifted.set(k, shifted.get(k) + 1000.0);
  HostTensor loss2(DType::f64, Shape{N}), lse2(DType::f64, Shape{N});
  ops::softmax_xent_forward(loss2, lse2, shifted, targets);
  for (std::int64_t n = 0; n < N; ++n) {
    CHECK(std::isfinite(loss2.get(n)));
    CHECK(loss2.get(n) == Approx(loss.get(n)).margin(1e-11));
    CHECK(lse2.get(n) == Approx(lse.get(n) + 1000.0).epsilon(1e-14));
  }
}

TEST_CASE("softmax cross-entropy gradient against finite differences; in place; f32", "[cpu][xent]") {
  const std::int64_t N = 4, V = 6;
  const double grad_scale = 0.3;
  HostTensor logits = random_tensor(Shape{N, V}, "logits", 2.0);
  HostTensor targets = i32_tensor({2, -1, 5, 0});
  HostTensor loss(DType::f64, Shape{N}), lse(DType::f64, Shape{N});
  ops::softmax_xent_forward(loss, lse, logits, targets);
  HostTensor dlogits = random_tensor(Shape{N, V}, "garbage");  // overwritten
  ops::softmax_xent_backward(dlogits, logits, lse, targets, grad_scale);
  for (std::int64_t j = 0; j < V; ++j) CHECK(dlogits.get(1 * V + j) == 0.0);  // ignored row

  // dlogits may alias logits.
  HostTensor in_place = clone(logits);
  ops::softmax_xent_backward(in_place, in_place, lse, targets, grad_scale);
  CHECK(max_abs_diff(in_place, dlogits) == 0.0);

  const OpCase c = cross_entropy_case(targets, V, 2.0, grad_scale);
  check_op_gradients(c);
  check_op_f32_vs_f64(c, {{"loss", 1e-5}, {"lse", 1e-5}, {"dlogits", 1e-6}});
}

TEST_CASE("softmax cross-entropy rejects bad targets and shapes", "[cpu][xent]") {
  HostTensor logits(DType::f64, Shape{2, 7}), loss(DType::f64, Shape{2}), lse(DType::f64, Shape{2});
  CHECK_SHAPE_ERROR(ops::softmax_xent_forward(loss, lse, logits, i32_tensor({1, 7})), "target 7");
  CHECK_SHAPE_ERROR(ops::softmax_xent_forward(loss, lse, logits, i32_tensor({1, 7})), "V = 7");
  CHECK_SHAPE_ERROR(ops::softmax_xent_backward(logits, logits, lse, i32_tensor({9, 0}), 1.0), "target 9");
  CHECK_SHAPE_ERROR(ops::softmax_xent_forward(loss, lse, logits, i32_tensor({1, 2, 3})), "xent targets");
  CHECK_SHAPE_ERROR(ops::softmax_xent_forward(HostTensor(DType::f64, Shape{3}), lse, logits, i32_tensor({1, 2})),
                    "xent loss");
  CHECK_SHAPE_ERROR(ops::softmax_xent_backward(HostTensor(DType::f64, Shape{2, 6}), logits, lse, i32_tensor({1, 2}), 1.0),
                    "xent dlogits");
}
