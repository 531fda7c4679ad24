// Tests of axpby: values, aliasing, gradients and shape errors.
#include <catch2/catch.hpp>

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

  HostTensor dy = random_tensor(Shape{3, 4}, "dy");
  HostTensor da(DType::f64, Shape{3, 4}), db(DType::f64, Shape{3, 4});
  ops::axpby(da, alpha, dy, 0.0f, dy);
  ops::axpby(db, 0.0f, dy, beta, dy);
  auto loss = [&] {
    ops::axpby(out, alpha, a, beta, b);
    return dot(dy, out);
  };
  check_gradient("a", a, da, loss);
  check_gradient("b", b, db, loss);

  ops::axpby(out, alpha, a, beta, b);  // the loss left out at a perturbed b
  HostTensor a32 = converted(a, DType::f32), b32 = converted(b, DType::f32), out32(DType::f32, Shape{3, 4});
  ops::axpby(out32, alpha, a32, beta, b32);
  CHECK(max_abs_diff(out32, out) < 1e-6);

  CHECK_SHAPE_ERROR(ops::axpby(out, alpha, a, beta, HostTensor(DType::f64, Shape{4, 3})), "axpby b");
  CHECK_SHAPE_ERROR(ops::axpby(out, alpha, a32, beta, b), "axpby out (f64) and a (f32)");
}
