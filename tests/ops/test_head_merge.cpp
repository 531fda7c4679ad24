// Tests of the stream merges before the final norm: sum (identity at n = 1) and the gate (gradients, B/W split, f32).
#include <catch2/catch.hpp>
#include <cmath>

#include "ops/elementwise.hpp"
#include "ops/cases/head_merge.hpp"
#include "ops/head_merge.hpp"
#include "ops/mhc_coeffs.hpp"
#include "support/gradcheck.hpp"
#include "support/op_testing.hpp"

using namespace mhc;
using mhc::test::converted;
using mhc::test::max_abs_diff;
using mhc::test::random_tensor;

namespace {

struct Dims {
  std::int64_t N, n, C;
};

// Inputs and parameters of the gate, with a random upstream gradient dy.
struct Case {
  Dims d;
  HostTensor x, phi, alpha, bias, dy;

  // phi large enough that the gates are far from saturation and far from linear.
  static Case random(Dims d) {
    Case c{d,
           random_tensor(Shape{d.N, d.n, d.C}, "x"),
           random_tensor(Shape{d.n * d.C, d.n}, "phi", 0.3),
           HostTensor(DType::f64, Shape{1}),
           random_tensor(Shape{d.n}, "bias", 0.5),
           random_tensor(Shape{d.N, d.C}, "dy")};
    c.alpha.set(0, 0.9);
    return c;
  }

  DType dtype() const { return x.view().dtype; }
};

struct Outputs {
  HostTensor y, w, proj, rstd;
};

Outputs forward(const Case& c) {
  const Dims d = c.d;
  Outputs o{HostTensor(c.dtype(), Shape{d.N, d.C}), HostTensor(c.dtype(), Shape{d.N, d.n}),
            HostTensor(c.dtype(), Shape{d.N, d.n}), HostTensor(c.dtype(), Shape{d.N})};
  ops::head_merge_gate_forward(o.y, o.w, o.proj, o.rstd, c.x, c.phi, c.alpha, c.bias);
  return o;
}

struct Grads {
  HostTensor dx, dlogit, dphi, dalpha, dbias;
};

Grads zero_grads(const Case& c) {
  const Dims d = c.d;
  return Grads{HostTensor(c.dtype(), Shape{d.N, d.n, d.C}), HostTensor(c.dtype(), Shape{d.N, d.n}),
               HostTensor(c.dtype(), Shape{d.n * d.C, d.n}), HostTensor(c.dtype(), Shape{1}),
               HostTensor(c.dtype(), Shape{d.n})};
}

void backward_input(Grads& g, const Case& c, const Outputs& o) {
  ops::head_merge_gate_backward_input(g.dx, g.dlogit, c.dy, c.x, c.phi, c.alpha, o.w, o.proj, o.rstd);
}
void backward_weight(Grads& g, const Case& c, const Outputs& o) {
  ops::head_merge_gate_backward_weight(g.dphi, g.dalpha, g.dbias, g.dlogit, c.x, o.proj, o.rstd, c.alpha);
}

Grads backward(const Case& c) {
  const Outputs o = forward(c);
  Grads g = zero_grads(c);
  backward_input(g, c, o);
  backward_weight(g, c, o);
  return g;
}

double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }

}  // namespace

TEST_CASE("head merge gate: gradients of x, phi, alpha and bias match finite differences", "[cpu][head_merge]") {
  for (const Dims d : {Dims{3, 3, 4}, Dims{2, 1, 5}, Dims{2, 4, 2}}) {
    INFO("N " << d.N << ", n " << d.n << ", C " << d.C);
    mhc::test::check_op_gradients(mhc::test::head_merge_gate_case(d.N, d.n, d.C, 0.3));

    // The gates are neither saturated nor linear: the test exercises the sigmoid slope.
    const Outputs o = forward(Case::random(d));
    for (std::int64_t k = 0; k < o.w.numel(); ++k) {
      CHECK(o.w.get(k) > 0.05);
      CHECK(o.w.get(k) < 0.95);
    }
  }
}

TEST_CASE("head merge gate: forward equals the formula with vec(x) normalised first", "[cpu][head_merge]") {
  const Dims d{3, 3, 4};
  const Case c = Case::random(d);
  const Outputs o = forward(c);
  const std::int64_t n = d.n, C = d.C, nC = n * C;
  for (std::int64_t t = 0; t < d.N; ++t) {
    double sum_sq = 0;
    for (std::int64_t k = 0; k < nC; ++k) sum_sq += c.x.get(t * nC + k) * c.x.get(t * nC + k);
    const double r = std::sqrt(sum_sq / static_cast<double>(nC) + ops::kMhcRmsEps);
    CHECK(o.rstd.get(t) == Approx(1.0 / r).epsilon(1e-14));
    std::vector<double> w(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      double z = 0;  // (vec(x) / r) phi[:, i]
      for (std::int64_t m = 0; m < nC; ++m) z += c.x.get(t * nC + m) / r * c.phi.get(m * n + i);
      w[static_cast<std::size_t>(i)] = sigmoid(c.alpha.get(0) * z + c.bias.get(i)) + 1e-6;
      CHECK(o.w.get(t * n + i) == Approx(w[static_cast<std::size_t>(i)]).epsilon(1e-13));
    }
    for (std::int64_t ch = 0; ch < C; ++ch) {
      double y = 0;
      for (std::int64_t i = 0; i < n; ++i) y += w[static_cast<std::size_t>(i)] * c.x.get((t * n + i) * C + ch);
      CHECK(o.y.get(t * C + ch) == Approx(y).epsilon(1e-13).margin(1e-14));
    }
  }
}

TEST_CASE("head merge gate: a saturated-off gate keeps the 1e-6 floor", "[cpu][head_merge]") {
  const Dims d{2, 3, 4};
  Case c = Case::random(d);
  fill_constant(c.bias, -1000.0);
  const Outputs o = forward(c);
  for (std::int64_t k = 0; k < o.w.numel(); ++k) CHECK(o.w.get(k) == ops::kHeadMergeWeightEps);
  for (std::int64_t t = 0; t < d.N; ++t)
    for (std::int64_t ch = 0; ch < d.C; ++ch) {
      double sum = 0;
      for (std::int64_t i = 0; i < d.n; ++i) sum += c.x.get((t * d.n + i) * d.C + ch);
      CHECK(o.y.get(t * d.C + ch) == Approx(1e-6 * sum).epsilon(1e-12).margin(1e-20));
    }
  // No gradient flows into the logits through a saturated sigmoid, but dx still gets w * dy.
  const Grads g = backward(c);
  for (std::int64_t k = 0; k < g.dlogit.numel(); ++k) CHECK(std::fabs(g.dlogit.get(k)) < 1e-300);
  for (std::int64_t t = 0; t < d.N; ++t)
    for (std::int64_t i = 0; i < d.n; ++i)
      for (std::int64_t ch = 0; ch < d.C; ++ch)
        CHECK(g.dx.get((t * d.n + i) * d.C + ch) == Approx(1e-6 * c.dy.get(t * d.C + ch)).epsilon(1e-12));
}

TEST_CASE("head merge gate: B overwrites dx and dlogit, W accumulates and needs only dlogit and saved state",
          "[cpu][head_merge]") {
  const Case c = Case::random(Dims{3, 3, 4});
  const Grads ref = backward(c);
  const Outputs o = forward(c);

  Grads g = zero_grads(c);
  const HostTensor dphi0 = random_tensor(g.dphi.view().shape, "dphi0");
  const HostTensor dalpha0 = random_tensor(g.dalpha.view().shape, "dalpha0");
  const HostTensor dbias0 = random_tensor(g.dbias.view().shape, "dbias0");
  ops::axpby(g.dphi, 1.0f, dphi0, 0.0f, dphi0);
  ops::axpby(g.dalpha, 1.0f, dalpha0, 0.0f, dalpha0);
  ops::axpby(g.dbias, 1.0f, dbias0, 0.0f, dbias0);
  fill_constant(g.dx, 1e9);  // stale contents must not leak into the result
  fill_constant(g.dlogit, 1e9);

  backward_input(g, c, o);
  // W runs later, after the merge weights and dy are gone (only dlogit, x, proj, rstd and alpha are read).
  fill_constant(o.w, -7.0);
  fill_constant(c.dy, -7.0);
  backward_weight(g, c, o);

  CHECK(max_abs_diff(g.dx, ref.dx) == 0.0);
  CHECK(max_abs_diff(g.dlogit, ref.dlogit) == 0.0);
  const auto check_sum = [](const HostTensor& got, const HostTensor& start, const HostTensor& grad, double times) {
    for (std::int64_t k = 0; k < got.numel(); ++k)
      CHECK(got.get(k) == Approx(start.get(k) + times * grad.get(k)).margin(1e-12));
  };
  check_sum(g.dphi, dphi0, ref.dphi, 1);
  check_sum(g.dalpha, dalpha0, ref.dalpha, 1);
  check_sum(g.dbias, dbias0, ref.dbias, 1);

  // A second W (a second micro-batch) adds the same weight gradient again.
  backward_weight(g, c, o);
  check_sum(g.dphi, dphi0, ref.dphi, 2);
  check_sum(g.dalpha, dalpha0, ref.dalpha, 2);
  check_sum(g.dbias, dbias0, ref.dbias, 2);
}

TEST_CASE("head merge gate: the f32 path agrees with the f64 path", "[cpu][head_merge]") {
  // O(1) outputs, workspace and gradients (sums of <= 32 O(1) terms): f32 rounding stays far below 1e-5.
  mhc::test::check_op_f32_vs_f64(mhc::test::head_merge_gate_case(4, 4, 8, 0.3), 1e-5);
}

TEST_CASE("stream sum: forward adds the streams, backward copies dy, and n = 1 is the identity", "[cpu][head_merge]") {
  for (const DType dtype : {DType::f64, DType::f32}) {
    for (const Dims d : {Dims{3, 1, 5}, Dims{2, 4, 3}}) {
      INFO("n " << d.n << ", " << dtype_name(dtype));
      const HostTensor x = converted(random_tensor(Shape{d.N, d.n, d.C}, "x"), dtype);
      const HostTensor dy = converted(random_tensor(Shape{d.N, d.C}, "dy"), dtype);
      HostTensor y(dtype, Shape{d.N, d.C}), dx(dtype, Shape{d.N, d.n, d.C});
      fill_constant(y, 1e9);  // both outputs are overwritten
      fill_constant(dx, 1e9);
      ops::stream_sum_forward(y, x);
      ops::stream_sum_backward(dx, dy);
      for (std::int64_t t = 0; t < d.N; ++t)
        for (std::int64_t c = 0; c < d.C; ++c) {
          double sum = 0;
          for (std::int64_t i = 0; i < d.n; ++i) sum += x.get((t * d.n + i) * d.C + c);
          CHECK(y.get(t * d.C + c) == Approx(sum).epsilon(1e-6).margin(1e-6));
          for (std::int64_t i = 0; i < d.n; ++i) CHECK(dx.get((t * d.n + i) * d.C + c) == dy.get(t * d.C + c));
        }
      if (d.n == 1) CHECK(max_abs_diff(y, x) == 0.0);
    }
  }
  // The finite-difference gradient of <dy, sum_i x[i]> is dy in every stream.
  test::check_op_gradients(test::stream_sum_case(2, 3, 4));
}

TEST_CASE("head merge: bad shapes and dtypes throw ShapeError naming the argument", "[cpu][head_merge]") {
  const Dims d{2, 3, 4};
  const Case c = Case::random(d);
  Outputs o = forward(c);
  Grads g = zero_grads(c);

  const HostTensor bad_y(DType::f64, Shape{d.N, d.C + 1});
  CHECK_SHAPE_ERROR(ops::stream_sum_forward(bad_y, c.x), "stream_sum_forward y");
  const HostTensor x2d(DType::f64, Shape{d.N, d.n * d.C});
  CHECK_SHAPE_ERROR(ops::stream_sum_forward(o.y, x2d), "stream_sum_forward x");
  CHECK_SHAPE_ERROR(ops::stream_sum_backward(g.dx, bad_y), "stream_sum_backward dy");
  const HostTensor dy32(DType::f32, Shape{d.N, d.C});
  CHECK_SHAPE_ERROR(ops::stream_sum_backward(g.dx, dy32), "stream_sum_backward dy");

  const HostTensor bad_phi(DType::f64, Shape{d.n * d.C, d.n + 1});
  CHECK_SHAPE_ERROR(ops::head_merge_gate_forward(o.y, o.w, o.proj, o.rstd, c.x, bad_phi, c.alpha, c.bias),
                    "head_merge_gate_forward phi");
  const HostTensor alpha3(DType::f64, Shape{3});
  CHECK_SHAPE_ERROR(ops::head_merge_gate_forward(o.y, o.w, o.proj, o.rstd, c.x, c.phi, alpha3, c.bias),
                    "head_merge_gate_forward alpha");
  const HostTensor bias32(DType::f32, Shape{d.n});
  CHECK_SHAPE_ERROR(ops::head_merge_gate_forward(o.y, o.w, o.proj, o.rstd, c.x, c.phi, c.alpha, bias32),
                    "head_merge_gate_forward bias");
  CHECK_SHAPE_ERROR(ops::head_merge_gate_forward(bad_y, o.w, o.proj, o.rstd, c.x, c.phi, c.alpha, c.bias),
                    "head_merge_gate_forward y");
  const HostTensor too_many_streams(DType::f64, Shape{2, 9, 4});
  CHECK_THROWS_WITH(ops::head_merge_gate_forward(o.y, o.w, o.proj, o.rstd, too_many_streams, c.phi, c.alpha, c.bias),
                    Catch::Contains("head_merge_gate_forward x") && Catch::Contains("1..8"));

  const HostTensor bad_nn(DType::f64, Shape{d.N, d.n + 1});
  CHECK_SHAPE_ERROR(ops::head_merge_gate_backward_input(g.dx, bad_nn, c.dy, c.x, c.phi, c.alpha, o.w, o.proj, o.rstd),
                    "head_merge_gate_backward_input dlogit");
  CHECK_SHAPE_ERROR(
      ops::head_merge_gate_backward_input(g.dx, g.dlogit, c.dy, c.x, c.phi, c.alpha, bad_nn, o.proj, o.rstd),
      "head_merge_gate_backward_input w");
  const HostTensor bad_dx(DType::f64, Shape{d.N, d.n, d.C + 1});
  CHECK_SHAPE_ERROR(
      ops::head_merge_gate_backward_input(bad_dx, g.dlogit, c.dy, c.x, c.phi, c.alpha, o.w, o.proj, o.rstd),
      "head_merge_gate_backward_input dx");
  const HostTensor bad_rstd(DType::f64, Shape{d.N + 1});
  CHECK_SHAPE_ERROR(
      ops::head_merge_gate_backward_weight(g.dphi, g.dalpha, g.dbias, g.dlogit, c.x, o.proj, bad_rstd, c.alpha),
      "head_merge_gate_backward_weight rstd");
  CHECK_SHAPE_ERROR(
      ops::head_merge_gate_backward_weight(bad_phi, g.dalpha, g.dbias, g.dlogit, c.x, o.proj, o.rstd, c.alpha),
      "head_merge_gate_backward_weight dphi");
  CHECK_SHAPE_ERROR(
      ops::head_merge_gate_backward_weight(g.dphi, alpha3, g.dbias, g.dlogit, c.x, o.proj, o.rstd, c.alpha),
      "head_merge_gate_backward_weight dalpha");
}
