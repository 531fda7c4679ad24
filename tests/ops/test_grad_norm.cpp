// Tests of the global gradient norm and in-place scaling (clipping).
#include <catch2/catch.hpp>

#include <cmath>

#include "ops/grad_norm.hpp"
#include "support/gradcheck.hpp"
#include "support/op_testing.hpp"

using namespace mhc;
using namespace mhc::test;

TEST_CASE("grad_norm_squared sums squares over f32 and f64 tensors; scale_inplace clips", "[cpu][grad_norm]") {
  HostTensor a = random_tensor(Shape{3, 4}, "a"), b = random_tensor(Shape{5}, "b", 2.0, DType::f32);
  HostTensor empty(DType::f64, Shape{0, 3});
  double direct = 0;
  for (std::int64_t k = 0; k < a.numel(); ++k) direct += a.get(k) * a.get(k);
  for (std::int64_t k = 0; k < b.numel(); ++k) direct += b.get(k) * b.get(k);
  const std::vector<Tensor> grads{a, empty, b};
  const double ss = ops::grad_norm_squared(grads);
  CHECK(ss == Approx(direct).epsilon(1e-15));
  CHECK(ops::grad_norm_squared(grads) == ss);  // deterministic
  CHECK(ops::grad_norm_squared({}) == 0.0);

  // Clip to norm 1.
  const double s = 1.0 / std::sqrt(ss);
  const HostTensor a0 = clone(a), b0 = clone(b);
  for (const Tensor& g : grads) ops::scale_inplace(g, s);
  for (std::int64_t k = 0; k < a.numel(); ++k) CHECK(a.get(k) == a0.get(k) * s);
  for (std::int64_t k = 0; k < b.numel(); ++k) CHECK(b.get(k) == static_cast<float>(b0.get(k)) * static_cast<float>(s));
  CHECK(ops::grad_norm_squared(grads) == Approx(1.0).epsilon(1e-6));
}

TEST_CASE("grad_norm_squared and scale_inplace reject non-float tensors", "[cpu][grad_norm]") {
  HostTensor a(DType::f64, Shape{2}), ids(DType::i32, Shape{2});
  CHECK_SHAPE_ERROR(ops::grad_norm_squared({a, ids}), "grads[1]");
  CHECK_SHAPE_ERROR(ops::scale_inplace(ids, 2.0), "scale_inplace t");
}
