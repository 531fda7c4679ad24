// Tests of axpby: values, aliasing, gradients and shape errors.
#include <catch2/catch.hpp>

#include "ops/cases/elementwise.hpp"
#include "ops/elementwise.hpp"
#include "support/gradcheck.hpp"
#include "support/op_testing.hpp"

using namespace mhc;
using namespace mhc::test;

TEST_CASE("axpby: values, in-place aliasing and gradients", "[cpu][elementwise]") {
  const float alpha = 1.5f, beta = -0.25f;
  HostTensor a = random_tensor(Shape{3, 4}, "a"), b = random_tensor(Shape{3, 4}, "b");
  HostTensor out(DType::f64, Shape{3, 4});
  ops::axpby(out, alpha, a, beta, b);
  for (std::int64_t k = 0; k < out.numel(); ++k) CHECK(out.get(k) == alpha * a.get(k) + beta * b.get(k));

  HostTensor in_place = clone(a);
  ops::axpby(in_place, alpha, in_place, beta, b);
  CHECK(max_abs_diff(in_place, out) == 0.0);

  const OpCase c = axpby_case(Shape{3, 4}, alpha, beta);
  check_op_gradients(c);
  check_op_f32_vs_f64(c, 1e-6);

  const HostTensor a32 = converted(a, DType::f32);

  CHECK_SHAPE_ERROR(ops::axpby(out, alpha, a, beta, HostTensor(DType::f64, Shape{4, 3})), "axpby b");
  CHECK_SHAPE_ERROR(ops::axpby(out, alpha, a32, beta, b), "axpby out (f64) and a (f32)");
}
