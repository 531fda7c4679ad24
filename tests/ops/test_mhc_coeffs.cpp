// Tests of the mHC coefficient ops: finite-difference gradients, B/W split, f32 vs f64, RMS reordering, init.
#include <catch2/catch.hpp>
#include <cmath>

#include "ops/cases/mhc_coeffs.hpp"
#include "ops/elementwise.hpp"
#include "ops/mhc_coeffs.hpp"
#include "ops/sinkhorn.hpp"
#include "support/gradcheck.hpp"

using namespace mhc;
using mhc::test::max_abs_diff;
using mhc::test::random_tensor;

namespace {

struct Dims {
  std::int64_t N, n, C;
  std::int64_t K() const { return n * n + 2 * n; }
};

HostTensor converted(const HostTensor& src, DType dtype) {
  HostTensor out(dtype, src.view().shape);
  ops::convert_dtype(out, src);
  return out;
}

// Inputs and parameters of one layer, with random upstream gradients of the three outputs.
struct Case {
  Dims d;
  HostTensor x, phi, alpha, bias, g_pre, g_post, g_res;

  // phi large enough that the gates are far from saturation and far from linear; alpha of both signs.
  static Case random(Dims d) {
    Case c{d,
           random_tensor(Shape{d.N, d.n, d.C}, "x"),
           random_tensor(Shape{d.n * d.C, d.K()}, "phi", 0.3),
           HostTensor(DType::f64, Shape{3}),
           random_tensor(Shape{d.K()}, "bias", 0.5),
           random_tensor(Shape{d.N, d.n}, "g_pre"),
           random_tensor(Shape{d.N, d.n}, "g_post"),
           random_tensor(Shape{d.N, d.n, d.n}, "g_res")};
    c.alpha.set(0, 0.8);
    c.alpha.set(1, -0.6);
    c.alpha.set(2, 1.1);
    return c;
  }

  Case as(DType dtype) const {
    return Case{d,
                converted(x, dtype),
                converted(phi, dtype),
                converted(alpha, dtype),
                converted(bias, dtype),
                converted(g_pre, dtype),
                converted(g_post, dtype),
                converted(g_res, dtype)};
  }
  DType dtype() const { return x.view().dtype; }
};

struct Outputs {
  HostTensor h_pre, h_post, res_logits, proj, rstd;
};

Outputs forward(const Case& c) {
  const Dims d = c.d;
  Outputs o{HostTensor(c.dtype(), Shape{d.N, d.n}), HostTensor(c.dtype(), Shape{d.N, d.n}),
            HostTensor(c.dtype(), Shape{d.N, d.n, d.n}), HostTensor(c.dtype(), Shape{d.N, d.K()}),
            HostTensor(c.dtype(), Shape{d.N})};
  ops::mhc_coeffs_forward(o.h_pre, o.h_post, o.res_logits, o.proj, o.rstd, c.x, c.phi, c.alpha, c.bias);
  return o;
}

// dx and x_coef as B writes them (the whole x gradient is dx + x_coef * x).
struct Grads {
  HostTensor dx, x_coef, dtilde, dphi, dalpha, dbias;
};

Grads zero_grads(const Case& c) {
  const Dims d = c.d;
  return Grads{HostTensor(c.dtype(), Shape{d.N, d.n, d.C}), HostTensor(c.dtype(), Shape{d.N}),
               HostTensor(c.dtype(), Shape{d.N, d.K()}),    HostTensor(c.dtype(), Shape{d.n * d.C, d.K()}),
               HostTensor(c.dtype(), Shape{3}),             HostTensor(c.dtype(), Shape{d.K()})};
}

void backward_input(Grads& g, const Case& c, const Outputs& o) {
  ops::mhc_coeffs_backward_input(g.dx, g.x_coef, g.dtilde, c.g_pre, c.g_post, c.g_res, c.phi, c.alpha, o.h_pre,
                                 o.h_post, o.proj, o.rstd);
}

void backward_weight(Grads& g, const Case& c, const Outputs& o) {
  ops::mhc_coeffs_backward_weight(g.dphi, g.dalpha, g.dbias, g.dtilde, c.x, o.proj, o.rstd, c.alpha);
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

TEST_CASE("mhc coefficients: gradients of x, phi, alpha and bias match finite differences", "[cpu][mhc]") {
  for (const Dims d : {Dims{3, 3, 4}, Dims{2, 1, 5}, Dims{2, 4, 2}}) {
    INFO("N " << d.N << ", n " << d.n << ", C " << d.C);
    mhc::test::check_op_gradients(mhc::test::mhc_coeffs_case(d.N, d.n, d.C));

    // The gates are neither saturated nor linear: the test exercises both sigmoid slopes.
    const Outputs o = forward(Case::random(d));
    for (std::int64_t k = 0; k < o.h_pre.numel(); ++k) {
      CHECK(o.h_pre.get(k) > 0.02);
      CHECK(o.h_pre.get(k) < 0.98);
    }
  }
}

TEST_CASE("mhc coefficients: B overwrites dx, x_coef and dtilde, and W needs only dtilde and saved state",
          "[cpu][mhc]") {
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
  for (const HostTensor* t : {&g.dx, &g.x_coef, &g.dtilde}) fill_constant(*t, 1e9);  // stale contents must not leak

  backward_input(g, c, o);
  // W runs later, after the gate outputs are gone (only dtilde, x, proj, rstd and alpha are read).
  fill_constant(o.h_pre, -7.0);
  fill_constant(o.h_post, -7.0);
  backward_weight(g, c, o);

  const auto check_sum = [](const HostTensor& got, const HostTensor& start, const HostTensor& grad) {
    for (std::int64_t k = 0; k < got.numel(); ++k)
      CHECK(got.get(k) == Approx(start.get(k) + grad.get(k)).margin(1e-12));
  };
  CHECK(max_abs_diff(g.dx, ref.dx) == 0.0);
  CHECK(max_abs_diff(g.x_coef, ref.x_coef) == 0.0);
  CHECK(max_abs_diff(g.dtilde, ref.dtilde) == 0.0);
  check_sum(g.dphi, dphi0, ref.dphi);
  check_sum(g.dalpha, dalpha0, ref.dalpha);
  check_sum(g.dbias, dbias0, ref.dbias);

  // A second W (a second micro-batch) adds the same weight gradient again.
  backward_weight(g, c, o);
  for (std::int64_t k = 0; k < g.dphi.numel(); ++k)
    CHECK(g.dphi.get(k) == Approx(dphi0.get(k) + 2 * ref.dphi.get(k)).margin(1e-12));
}

TEST_CASE("mhc coefficients: the f32 path agrees with the f64 path", "[cpu][mhc]") {
  // O(1) outputs, workspace and gradients (sums of <= 32 O(1) terms): f32 rounding stays far below 1e-5.
  mhc::test::check_op_f32_vs_f64(mhc::test::mhc_coeffs_case(4, 4, 8), 1e-5);
}

TEST_CASE("mhc coefficients: scaling by 1/r after the product equals normalising vec(x) first", "[cpu][mhc]") {
  const Dims d{3, 3, 4};
  const Case c = Case::random(d);
  const Outputs o = forward(c);
  const std::int64_t nC = d.n * d.C, K = d.K(), n = d.n;
  for (std::int64_t t = 0; t < d.N; ++t) {
    double sum_sq = 0;
    for (std::int64_t k = 0; k < nC; ++k) sum_sq += c.x.get(t * nC + k) * c.x.get(t * nC + k);
    const double r = std::sqrt(sum_sq / static_cast<double>(nC) + ops::kMhcRmsEps);
    CHECK(o.rstd.get(t) == Approx(1.0 / r).epsilon(1e-14));
    for (std::int64_t k = 0; k < K; ++k) {
      double z = 0;  // (vec(x) / r) phi[:, k]
      for (std::int64_t m = 0; m < nC; ++m) z += c.x.get(t * nC + m) / r * c.phi.get(m * K + k);
      const double pre_activation = (k < n       ? c.alpha.get(0)
                                     : k < 2 * n ? c.alpha.get(1)
                                                 : c.alpha.get(2)) *
                                        z +
                                    c.bias.get(k);
      double got;
      double expected;
      if (k < n) {
        got = o.h_pre.get(t * n + k);
        expected = sigmoid(pre_activation);
      } else if (k < 2 * n) {
        got = o.h_post.get(t * n + k - n);
        expected = 2 * sigmoid(pre_activation);
      } else {
        got = o.res_logits.get(t * n * n + k - 2 * n);
        expected = pre_activation;
      }
      CHECK(got == Approx(expected).epsilon(1e-13).margin(1e-14));
    }
  }
}

TEST_CASE("mhc coefficients: phi = 0 with identity bias gives the home-stream pattern", "[cpu][mhc]") {
  const Dims d{2, 3, 4};
  const int layer = 5;  // home stream 5 mod 3 = 2
  Case c = Case::random(d);
  ops::MhcInit init;
  init.n = 3;
  init.phi = ops::MhcInit::Phi::zero;
  ops::mhc_init_parameters(c.phi, c.alpha, c.bias, layer, init, 1, "layers.5.mhc");
  for (int b = 0; b < 3; ++b) CHECK(c.alpha.get(b) == 0.01);
  const Outputs o = forward(c);
  for (std::int64_t t = 0; t < d.N; ++t) {
    for (std::int64_t i = 0; i < d.n; ++i) {
      CHECK(o.h_pre.get(t * d.n + i) == Approx(sigmoid(i == 2 ? 3.0 : -3.0)).epsilon(1e-15));
      CHECK(o.h_post.get(t * d.n + i) == 1.0);
      for (std::int64_t j = 0; j < d.n; ++j) CHECK(o.res_logits.get((t * d.n + i) * d.n + j) == (i == j ? 3.0 : -3.0));
    }
  }

  init.bias = ops::MhcInit::Bias::zero;
  init.alpha_init = 0.5;
  ops::mhc_init_parameters(c.phi, c.alpha, c.bias, layer, init, 1, "layers.5.mhc");
  CHECK(c.alpha.get(1) == 0.5);
  for (std::int64_t k = 0; k < c.bias.numel(); ++k) CHECK(c.bias.get(k) == 0.0);
  const Outputs z = forward(c);
  for (std::int64_t k = 0; k < z.h_pre.numel(); ++k) CHECK(z.h_pre.get(k) == 0.5);
  for (std::int64_t k = 0; k < z.res_logits.numel(); ++k) CHECK(z.res_logits.get(k) == 0.0);
}

TEST_CASE("mhc init: Xavier phi depends only on (seed, name)", "[cpu][mhc]") {
  const Dims d{1, 4, 6};
  const std::int64_t K = d.K();
  const auto make = [&](int layer, std::uint64_t seed, const std::string& name, ops::MhcInit::Bias bias) {
    HostTensor phi(DType::f64, Shape{d.n * d.C, K}), alpha(DType::f64, Shape{3}), b(DType::f64, Shape{K});
    ops::MhcInit init;
    init.n = 4;
    init.bias = bias;
    ops::mhc_init_parameters(phi, alpha, b, layer, init, seed, name);
    return phi;
  };
  const HostTensor a = make(3, 7, "blocks.1.mlp.mhc", ops::MhcInit::Bias::identity);
  CHECK(max_abs_diff(a, make(3, 7, "blocks.1.mlp.mhc", ops::MhcInit::Bias::identity)) == 0.0);
  CHECK(max_abs_diff(a, make(0, 7, "blocks.1.mlp.mhc", ops::MhcInit::Bias::zero)) == 0.0);  // not the layer index
  CHECK(max_abs_diff(a, make(3, 7, "blocks.2.mlp.mhc", ops::MhcInit::Bias::identity)) > 0.0);
  CHECK(max_abs_diff(a, make(3, 8, "blocks.1.mlp.mhc", ops::MhcInit::Bias::identity)) > 0.0);

  // Exactly the counter-RNG uniform stream keyed by name_prefix + ".phi", scaled to U(-a, a).
  const double bound = std::sqrt(6.0 / static_cast<double>(d.n * d.C + K));
  HostTensor expected(DType::f64, a.view().shape);
  fill_uniform(expected, 7, "blocks.1.mlp.mhc.phi", -bound, bound);
  CHECK(max_abs_diff(a, expected) == 0.0);
  double largest = 0;
  for (std::int64_t k = 0; k < a.numel(); ++k) largest = std::fmax(largest, std::fabs(a.get(k)));
  CHECK(largest < bound);
  CHECK(largest > 0.8 * bound);

  HostTensor phi(DType::f64, Shape{d.n * d.C, K}), alpha(DType::f64, Shape{3}), b(DType::f64, Shape{K});
  ops::MhcInit init;
  init.n = 3;  // does not match K = 24
  CHECK_THROWS_WITH(ops::mhc_init_parameters(phi, alpha, b, 0, init, 7, "x"), Catch::Contains("phi"));
}

TEST_CASE("mhc coefficients: bad shapes and dtypes throw ShapeError naming the argument", "[cpu][mhc]") {
  const Dims d{2, 3, 4};
  const Case c = Case::random(d);
  Outputs o = forward(c);
  const HostTensor bad_phi(DType::f64, Shape{d.n * d.C + 1, d.K()});
  CHECK_THROWS_AS(
      ops::mhc_coeffs_forward(o.h_pre, o.h_post, o.res_logits, o.proj, o.rstd, c.x, bad_phi, c.alpha, c.bias),
      ShapeError);
  CHECK_THROWS_WITH(
      ops::mhc_coeffs_forward(o.h_pre, o.h_post, o.res_logits, o.proj, o.rstd, c.x, bad_phi, c.alpha, c.bias),
      Catch::Contains("mhc_coeffs_forward phi"));
  const HostTensor alpha32(DType::f32, Shape{3});
  CHECK_THROWS_WITH(
      ops::mhc_coeffs_forward(o.h_pre, o.h_post, o.res_logits, o.proj, o.rstd, c.x, c.phi, alpha32, c.bias),
      Catch::Contains("alpha"));
  const HostTensor short_bias(DType::f64, Shape{d.K() - 1});
  CHECK_THROWS_WITH(
      ops::mhc_coeffs_forward(o.h_pre, o.h_post, o.res_logits, o.proj, o.rstd, c.x, c.phi, c.alpha, short_bias),
      Catch::Contains("bias"));
  const HostTensor too_many_streams(DType::f64, Shape{2, 9, 4});
  CHECK_THROWS_WITH(ops::mhc_coeffs_forward(o.h_pre, o.h_post, o.res_logits, o.proj, o.rstd, too_many_streams, c.phi,
                                            c.alpha, c.bias),
                    Catch::Contains("mhc_coeffs_forward x") && Catch::Contains("1..8"));
  const HostTensor bad_res(DType::f64, Shape{d.N, d.n * d.n});
  CHECK_THROWS_WITH(ops::mhc_coeffs_forward(o.h_pre, o.h_post, bad_res, o.proj, o.rstd, c.x, c.phi, c.alpha, c.bias),
                    Catch::Contains("res_logits"));

  Grads g = zero_grads(c);
  const HostTensor bad_dtilde(DType::f64, Shape{d.N, d.K() + 1});
  CHECK_THROWS_WITH(ops::mhc_coeffs_backward_input(g.dx, g.x_coef, bad_dtilde, c.g_pre, c.g_post, c.g_res, c.phi,
                                                   c.alpha, o.h_pre, o.h_post, o.proj, o.rstd),
                    Catch::Contains("mhc_coeffs_backward_input dtilde"));
  const HostTensor bad_rstd(DType::f64, Shape{d.N + 1});
  CHECK_THROWS_WITH(ops::mhc_coeffs_backward_input(g.dx, g.x_coef, g.dtilde, c.g_pre, c.g_post, c.g_res, c.phi,
                                                   c.alpha, o.h_pre, o.h_post, o.proj, bad_rstd),
                    Catch::Contains("rstd"));
  CHECK_THROWS_WITH(ops::mhc_coeffs_backward_input(g.dx, bad_rstd, g.dtilde, c.g_pre, c.g_post, c.g_res, c.phi,
                                                   c.alpha, o.h_pre, o.h_post, o.proj, o.rstd),
                    Catch::Contains("mhc_coeffs_backward_input x_coef"));
  const HostTensor bad_dphi(DType::f64, Shape{d.K(), d.n * d.C});
  CHECK_THROWS_WITH(
      ops::mhc_coeffs_backward_weight(bad_dphi, g.dalpha, g.dbias, g.dtilde, c.x, o.proj, o.rstd, c.alpha),
      Catch::Contains("mhc_coeffs_backward_weight dphi"));
  const HostTensor bad_dalpha(DType::f64, Shape{2});
  CHECK_THROWS_WITH(
      ops::mhc_coeffs_backward_weight(g.dphi, bad_dalpha, g.dbias, g.dtilde, c.x, o.proj, o.rstd, c.alpha),
      Catch::Contains("dalpha"));
}

TEST_CASE("mhc coefficients: the Sinkhorn-fused forward equals the forward then sinkhorn_forward", "[cpu][mhc]") {
  for (const DType dtype : {DType::f32, DType::f64}) {
    const Dims d{5, 3, 4};
    const Case c = Case::random(d).as(dtype);
    const Outputs ref = forward(c);
    const HostTensor h_res_ref(dtype, Shape{d.N, d.n, d.n});
    ops::sinkhorn_forward(h_res_ref, ref.res_logits, 20);

    Outputs o = forward(c);  // overwritten below
    const HostTensor h_res(dtype, Shape{d.N, d.n, d.n});
    ops::mhc_coeffs_sinkhorn_forward(o.h_pre, o.h_post, o.res_logits, h_res, o.proj, o.rstd, c.x, c.phi, c.alpha,
                                     c.bias, 20);
    CHECK(max_abs_diff(o.h_pre, ref.h_pre) == 0.0);
    CHECK(max_abs_diff(o.h_post, ref.h_post) == 0.0);
    CHECK(max_abs_diff(o.res_logits, ref.res_logits) == 0.0);
    CHECK(max_abs_diff(h_res, h_res_ref) == 0.0);

    const HostTensor bad_h_res(dtype, Shape{d.N, d.n, d.n + 1});
    CHECK_THROWS_WITH(ops::mhc_coeffs_sinkhorn_forward(o.h_pre, o.h_post, o.res_logits, bad_h_res, o.proj, o.rstd,
                                                       c.x, c.phi, c.alpha, c.bias, 20),
                      Catch::Contains("mhc_coeffs_sinkhorn_forward h_res"));
    CHECK_THROWS_AS(ops::mhc_coeffs_sinkhorn_forward(o.h_pre, o.h_post, o.res_logits, h_res, o.proj, o.rstd, c.x,
                                                     c.phi, c.alpha, c.bias, 0),
                    ShapeError);
  }
}
