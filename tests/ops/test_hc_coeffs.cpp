// Tests of the dynamic Hyper-Connections coefficient ops: gradients, B/W split, f32 vs f64, the H_res transpose, init.
#include <catch2/catch.hpp>
#include <cmath>

#include "ops/cases/hc_coeffs.hpp"
#include "ops/hc_coeffs.hpp"
#include "support/gradcheck.hpp"

using namespace mhc;
using mhc::test::max_abs_diff;
using mhc::test::random_tensor;

namespace {

struct Dims {
  std::int64_t N, n, C;
  std::int64_t P() const { return n + 2; }
};

// Normalised streams, parameters and random upstream gradients of the three outputs.
struct Case {
  Dims d;
  HostTensor xb, w, s, am, ar, bb, g_pre, g_post, g_res;

  // w large enough that the tanh slopes differ clearly from 1 (but far from saturation); s of both signs.
  static Case random(Dims d) {
    Case c{d,
           random_tensor(Shape{d.N, d.n, d.C}, "xb"),
           random_tensor(Shape{d.C, d.P()}, "w", 0.4),
           HostTensor(DType::f64, Shape{2}),
           random_tensor(Shape{d.n}, "am"),
           random_tensor(Shape{d.n, d.n}, "ar"),
           random_tensor(Shape{d.n}, "bb"),
           random_tensor(Shape{d.N, d.n}, "g_pre"),
           random_tensor(Shape{d.N, d.n}, "g_post"),
           random_tensor(Shape{d.N, d.n, d.n}, "g_res")};
    c.s.set(0, 0.7);
    c.s.set(1, -0.9);
    return c;
  }

  DType dtype() const { return xb.view().dtype; }
};

struct Outputs {
  HostTensor h_pre, h_post, h_res, proj;
};

Outputs forward(const Case& c) {
  const Dims d = c.d;
  Outputs o{HostTensor(c.dtype(), Shape{d.N, d.n}), HostTensor(c.dtype(), Shape{d.N, d.n}),
            HostTensor(c.dtype(), Shape{d.N, d.n, d.n}), HostTensor(c.dtype(), Shape{d.N, d.n, d.P()})};
  ops::hc_coeffs_forward(o.h_pre, o.h_post, o.h_res, o.proj, c.xb, c.w, c.s, c.am, c.ar, c.bb);
  return o;
}

struct Grads {
  HostTensor dxb, dproj, dw, ds, dam, dar, dbb;
};

Grads zero_grads(const Case& c) {
  const Dims d = c.d;
  const DType t = c.dtype();
  return Grads{HostTensor(t, Shape{d.N, d.n, d.C}),
               HostTensor(t, Shape{d.N, d.n, d.P()}),
               HostTensor(t, Shape{d.C, d.P()}),
               HostTensor(t, Shape{2}),
               HostTensor(t, Shape{d.n}),
               HostTensor(t, Shape{d.n, d.n}),
               HostTensor(t, Shape{d.n})};
}

void backward_input(Grads& g, const Case& c, const Outputs& o) {
  ops::hc_coeffs_backward_input(g.dxb, g.dproj, c.g_pre, c.g_post, c.g_res, o.proj, c.w, c.s);
}
void backward_weight(Grads& g, const Case& c, const Outputs& o) {
  ops::hc_coeffs_backward_weight(g.dw, g.ds, g.dam, g.dar, g.dbb, g.dproj, c.g_pre, c.g_post, c.g_res, c.xb, o.proj);
}

Grads backward(const Case& c) {
  const Outputs o = forward(c);
  Grads g = zero_grads(c);
  backward_input(g, c, o);
  backward_weight(g, c, o);
  return g;
}

}  // namespace

TEST_CASE("hc coefficients: gradients of xb, w, s, am, Ar and bb match finite differences", "[cpu][hc]") {
  for (const Dims d : {Dims{3, 3, 4}, Dims{2, 1, 5}, Dims{2, 4, 3}}) mhc::test::check_op_gradients(
      mhc::test::hc_coeffs_case(d.N, d.n, d.C));
}

TEST_CASE("hc coefficients: B overwrites dxb and dproj, W accumulates and needs only dproj and saved state",
          "[cpu][hc]") {
  const Case c = Case::random(Dims{3, 3, 4});
  const Grads ref = backward(c);
  const Outputs o = forward(c);

  Grads g = zero_grads(c);
  fill_constant(g.dxb, 1e9);  // stale contents must not leak into the result
  fill_constant(g.dproj, 1e9);
  const HostTensor dw0 = random_tensor(g.dw.view().shape, "dw0"), ds0 = random_tensor(g.ds.view().shape, "ds0");
  const HostTensor dam0 = random_tensor(g.dam.view().shape, "dam0"), dar0 = random_tensor(g.dar.view().shape, "dar0");
  const HostTensor dbb0 = random_tensor(g.dbb.view().shape, "dbb0");
  ops::axpby(g.dw, 1.0f, dw0, 0.0f, dw0);
  ops::axpby(g.ds, 1.0f, ds0, 0.0f, ds0);
  ops::axpby(g.dam, 1.0f, dam0, 0.0f, dam0);
  ops::axpby(g.dar, 1.0f, dar0, 0.0f, dar0);
  ops::axpby(g.dbb, 1.0f, dbb0, 0.0f, dbb0);

  backward_input(g, c, o);
  CHECK(max_abs_diff(g.dxb, ref.dxb) == 0.0);
  CHECK(max_abs_diff(g.dproj, ref.dproj) == 0.0);
  // W runs later, after the coefficient outputs are gone (they are not among its inputs).
  fill_constant(o.h_pre, -7.0);
  fill_constant(o.h_res, -7.0);
  backward_weight(g, c, o);

  const auto check_sum = [](const HostTensor& got, const HostTensor& start, const HostTensor& grad, double times) {
    for (std::int64_t k = 0; k < got.numel(); ++k)
      CHECK(got.get(k) == Approx(start.get(k) + times * grad.get(k)).margin(1e-12));
  };
  check_sum(g.dw, dw0, ref.dw, 1);
  check_sum(g.ds, ds0, ref.ds, 1);
  check_sum(g.dam, dam0, ref.dam, 1);
  check_sum(g.dar, dar0, ref.dar, 1);
  check_sum(g.dbb, dbb0, ref.dbb, 1);

  // A second W (a second micro-batch) adds the same weight gradients again.
  backward_weight(g, c, o);
  check_sum(g.dw, dw0, ref.dw, 2);
  check_sum(g.ds, ds0, ref.ds, 2);
  check_sum(g.dar, dar0, ref.dar, 2);
}

TEST_CASE("hc coefficients: the f32 path agrees with the f64 path", "[cpu][hc]") {
  // O(1) outputs and gradients (sums of <= 8 O(1) terms per GEMM element): f32 rounding stays far below 1e-5.
  mhc::test::check_op_f32_vs_f64(mhc::test::hc_coeffs_case(4, 4, 8), 1e-5);
}

TEST_CASE("hc coefficients: hand-computed 2-stream example, H_res = A_r^T", "[cpu][hc]") {
  // N = 1, n = 2, C = 2 with xb_0 = (1, 0) and xb_1 = (0, 1), so proj[i, :] is row i of w.
  Case c = Case::random(Dims{1, 2, 2});
  const double xb[] = {1, 0, 0, 1};
  const double w[] = {0.7,  0.1, 0.2, 0.0,   // row 0: w_m, W_r[0, 0], W_r[0, 1], w_b
                      -0.2, 0.3, 0.4, 0.9};  // row 1
  const double ar[] = {1, 2, 3, 4};          // Ar[0, :] = (1, 2): what stream 0 sends to outputs 0 and 1
  for (int k = 0; k < 4; ++k) {
    c.xb.set(k, xb[k]);
    c.ar.set(k, ar[k]);
  }
  for (int k = 0; k < 8; ++k) c.w.set(k, w[k]);
  c.s.set(0, 0.5);   // s_a
  c.s.set(1, 0.25);  // s_b
  c.am.set(0, 1);
  c.am.set(1, 0);
  c.bb.set(0, 1);
  c.bb.set(1, 1);
  const Outputs o = forward(c);

  // A_r[i, j] = s_a tanh(xb_i . W_r[:, j]) + Ar[i, j] is what stream i sends to output stream j.
  // H_res = A_r^T: H_res[j, i] = A_r[i, j], so column i of H_res comes from stream i and
  // (H_res x)[0] = A_r[0, 0] x_0 + A_r[1, 0] x_1.
  const double expected_h_res[2][2] = {{0.5 * std::tanh(0.1) + 1, 0.5 * std::tanh(0.3) + 3},
                                       {0.5 * std::tanh(0.2) + 2, 0.5 * std::tanh(0.4) + 4}};
  for (int j = 0; j < 2; ++j)
    for (int i = 0; i < 2; ++i) CHECK(o.h_res.get(j * 2 + i) == Approx(expected_h_res[j][i]).epsilon(1e-15));
  CHECK(o.h_pre.get(0) == Approx(0.5 * std::tanh(0.7) + 1).epsilon(1e-15));
  CHECK(o.h_pre.get(1) == Approx(0.5 * std::tanh(-0.2) + 0).epsilon(1e-15));
  CHECK(o.h_post.get(0) == Approx(0.25 * std::tanh(0.0) + 1).epsilon(1e-15));
  CHECK(o.h_post.get(1) == Approx(0.25 * std::tanh(0.9) + 1).epsilon(1e-15));
}

TEST_CASE("hc init: w = 0 gives exactly am, Ar^T and bb", "[cpu][hc]") {
  const Dims d{3, 3, 4};
  Case c = Case::random(d);
  const int layer = 4;  // home stream 4 mod 3 = 1
  ops::hc_init_parameters(c.w, c.s, c.am, c.ar, c.bb, layer);
  for (std::int64_t k = 0; k < c.w.numel(); ++k) CHECK(c.w.get(k) == 0.0);
  CHECK(c.s.get(0) == 0.01);
  CHECK(c.s.get(1) == 0.01);
  Outputs o = forward(c);
  for (std::int64_t t = 0; t < d.N; ++t) {
    for (std::int64_t i = 0; i < d.n; ++i) {
      CHECK(o.h_pre.get(t * d.n + i) == (i == 1 ? 1.0 : 0.0));
      CHECK(o.h_post.get(t * d.n + i) == 1.0);
      for (std::int64_t j = 0; j < d.n; ++j) CHECK(o.h_res.get((t * d.n + i) * d.n + j) == (i == j ? 1.0 : 0.0));
    }
  }

  // Any static part passes through unchanged while w = 0, with Ar transposed.
  const Case r = Case::random(d);
  ops::axpby(c.am, 1.0f, r.am, 0.0f, r.am);
  ops::axpby(c.ar, 1.0f, r.ar, 0.0f, r.ar);
  ops::axpby(c.bb, 1.0f, r.bb, 0.0f, r.bb);
  o = forward(c);
  for (std::int64_t t = 0; t < d.N; ++t) {
    for (std::int64_t i = 0; i < d.n; ++i) {
      CHECK(o.h_pre.get(t * d.n + i) == r.am.get(i));
      CHECK(o.h_post.get(t * d.n + i) == r.bb.get(i));
      for (std::int64_t j = 0; j < d.n; ++j) CHECK(o.h_res.get((t * d.n + j) * d.n + i) == r.ar.get(i * d.n + j));
    }
  }
}

TEST_CASE("hc coefficients: bad shapes and dtypes throw ShapeError naming the argument", "[cpu][hc]") {
  const Dims d{2, 3, 4};
  const Case c = Case::random(d);
  const Outputs o = forward(c);
  const HostTensor bad_w(DType::f64, Shape{d.C, d.n});
  CHECK_THROWS_AS(ops::hc_coeffs_forward(o.h_pre, o.h_post, o.h_res, o.proj, c.xb, bad_w, c.s, c.am, c.ar, c.bb),
                  ShapeError);
  CHECK_THROWS_WITH(ops::hc_coeffs_forward(o.h_pre, o.h_post, o.h_res, o.proj, c.xb, bad_w, c.s, c.am, c.ar, c.bb),
                    Catch::Contains("hc_coeffs_forward w"));
  const HostTensor ar32(DType::f32, Shape{d.n, d.n});
  CHECK_THROWS_WITH(ops::hc_coeffs_forward(o.h_pre, o.h_post, o.h_res, o.proj, c.xb, c.w, c.s, c.am, ar32, c.bb),
                    Catch::Contains("hc_coeffs_forward ar"));
  const HostTensor bad_s(DType::f64, Shape{3});
  CHECK_THROWS_WITH(ops::hc_coeffs_forward(o.h_pre, o.h_post, o.h_res, o.proj, c.xb, c.w, bad_s, c.am, c.ar, c.bb),
                    Catch::Contains("hc_coeffs_forward s"));
  const HostTensor flat_xb(DType::f64, Shape{d.N * d.n, d.C});
  CHECK_THROWS_WITH(ops::hc_coeffs_forward(o.h_pre, o.h_post, o.h_res, o.proj, flat_xb, c.w, c.s, c.am, c.ar, c.bb),
                    Catch::Contains("hc_coeffs_forward xb"));

  Grads g = zero_grads(c);
  const HostTensor bad_dh_res(DType::f64, Shape{d.N, d.n});
  CHECK_THROWS_WITH(ops::hc_coeffs_backward_input(g.dxb, g.dproj, c.g_pre, c.g_post, bad_dh_res, o.proj, c.w, c.s),
                    Catch::Contains("hc_coeffs_backward_input dh_res"));
  const HostTensor bad_dar(DType::f64, Shape{d.n});
  CHECK_THROWS_WITH(ops::hc_coeffs_backward_weight(g.dw, g.ds, g.dam, bad_dar, g.dbb, g.dproj, c.g_pre, c.g_post,
                                                   c.g_res, c.xb, o.proj),
                    Catch::Contains("hc_coeffs_backward_weight dar"));
  const HostTensor bad_am(DType::f64, Shape{d.n, 1});
  CHECK_THROWS_WITH(ops::hc_init_parameters(g.dw, g.ds, bad_am, g.dar, g.dbb, 0), Catch::Contains("am"));
}
