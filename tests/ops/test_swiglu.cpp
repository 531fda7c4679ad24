// Tests of SwiGLU: values, finite-difference gradients of gate and up, f32 vs f64, errors.
#include <catch2/catch.hpp>

#include <cmath>

#include "ops/cases/swiglu.hpp"
#include "ops/swiglu.hpp"
#include "support/gradcheck.hpp"
#include "support/op_testing.hpp"

using namespace mhc;
using namespace mhc::test;

TEST_CASE("swiglu forward, gradients and f32 agreement", "[cpu][swiglu]") {
  const Shape s{4, 6};
  HostTensor gate = random_tensor(s, "gate", 3.0), up = random_tensor(s, "up");
  gate.set(0, 40.0);   // large positive: silu(g) = g
  gate.set(1, -40.0);  // large negative: silu(g) ~ 0, no overflow
  HostTensor out(DType::f64, s);
  ops::swiglu_forward(out, gate, up);
  for (std::int64_t k = 0; k < out.numel(); ++k) {
    const double g = gate.get(k);
    CHECK(out.get(k) == Approx(g / (1 + std::exp(-g)) * up.get(k)).epsilon(1e-14).margin(1e-300));
  }


  // dgate may alias dout.
  const HostTensor dout = random_tensor(s, "dout");
  HostTensor dgate(DType::f64, s), dup(DType::f64, s);
  ops::swiglu_backward(dgate, dup, dout, gate, up);
  HostTensor in_place = clone(dout), dup2(DType::f64, s);
  ops::swiglu_backward(in_place, dup2, in_place, gate, up);
  CHECK(max_abs_diff(in_place, dgate) == 0.0);
  CHECK(max_abs_diff(dup2, dup) == 0.0);

  const OpCase c = swiglu_case(4, 6);
  check_op_gradients(c);
  check_op_f32_vs_f64(c, 1e-5);
}

TEST_CASE("swiglu rejects bad shapes and aliased gradients", "[cpu][swiglu]") {
  HostTensor gate(DType::f64, Shape{2, 3}), up(DType::f64, Shape{2, 3}), out(DType::f64, Shape{2, 3});
  CHECK_SHAPE_ERROR(ops::swiglu_forward(out, gate, HostTensor(DType::f64, Shape{3, 2})), "swiglu up");
  CHECK_SHAPE_ERROR(ops::swiglu_forward(HostTensor(DType::f32, Shape{2, 3}), gate, up), "swiglu out (f32)");
  CHECK_SHAPE_ERROR(ops::swiglu_backward(out, out, up, gate, up), "must not alias");
  CHECK_SHAPE_ERROR(ops::swiglu_backward(out, HostTensor(DType::f64, Shape{6}), up, gate, up), "swiglu dup");
}
