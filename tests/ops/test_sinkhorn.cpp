// Tests of Sinkhorn-Knopp: exact backward vs finite differences, the mHC properties of H_res, f32 vs f64, errors.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <string>

#include "core/host_tensor.hpp"
#include "core/rng.hpp"
#include "ops/cases/sinkhorn.hpp"
#include "ops/sinkhorn.hpp"
#include "support/gradcheck.hpp"
#include "support/mhc_inputs.hpp"

using namespace mhc;
using mhc::test::identity_logits;
using mhc::test::like;
using mhc::test::max_abs_diff;
using mhc::test::random_tensor;

namespace {

// Largest singular value of the n x n (n <= 8) row-major matrix h: power iteration on A = H^T H, then the
// Rayleigh quotient v^T A v / v^T v, which approaches the top eigenvalue of A from below.
double spectral_norm(const double* h, int n) {
  std::array<double, 8> v{}, hv{}, w{};
  for (int i = 0; i < n; ++i) v[i] = 1.0 + 0.1 * i;
  double lambda = 0;
  for (int iter = 0; iter < 500; ++iter) {
    for (int i = 0; i < n; ++i) {
      hv[i] = 0;
      for (int j = 0; j < n; ++j) hv[i] += h[i * n + j] * v[j];
    }
    double vv = 0, vw = 0, ww = 0;
    for (int j = 0; j < n; ++j) {
      w[j] = 0;
      for (int i = 0; i < n; ++i) w[j] += h[i * n + j] * hv[i];
      vv += v[j] * v[j];
      vw += v[j] * w[j];
      ww += w[j] * w[j];
    }
    lambda = vw / vv;
    for (int j = 0; j < n; ++j) v[j] = w[j] / std::sqrt(ww);
  }
  return std::sqrt(lambda);
}

}  // namespace

TEST_CASE("sinkhorn backward matches finite differences", "[cpu][sinkhorn]") {
  for (const int iters : {1, 3, 20})
    for (const std::int64_t n : {2, 4})
      for (const bool identity : {true, false})
        test::check_op_gradients(test::sinkhorn_case(3, n, iters, identity, identity ? 0.5 : 1.5));
}

TEST_CASE("sinkhorn H_res is nearly doubly stochastic with spectral norm <= 1", "[cpu][sinkhorn][mhc]") {
  const std::int64_t N = 32;
  const int n = 4, iters = 20;
  const double eps = ops::kSinkhornEps;
  struct Case {
    const char* what;
    HostTensor logits;
    double column_tol;     // what 20 iterations reach on these inputs (columns converge geometrically)
    bool converged;        // columns within ~1e-3: then the spectral norm is <= 1 + 1e-5
  };
  // Near-permutation matrices converge slowly: the identity bias 6I - 3 with noise 0.5 (a trained layer) or a wide
  // spread still has column errors of ~1e-2 after 20 iterations (spec 2.4: "columns only approximately 1").
  Case cases[] = {{"identity bias + init-scale noise", identity_logits(N, n, "prop.id", 0.02), 1e-3, true},
                  {"zero bias + N(0, 1) logits", random_tensor(Shape{N, n, n}, "prop.zero", 1.0), 1e-4, true},
                  {"identity bias + noise 0.5", identity_logits(N, n, "prop.id.wide", 0.5), 5e-2, false},
                  {"random spread N(0, 3^2)", random_tensor(Shape{N, n, n}, "prop.rand", 3.0), 1e-1, false}};
  for (const Case& c : cases) {
    INFO(c.what);
    const HostTensor h = like(c.logits);
    ops::sinkhorn_forward(h, c.logits, iters);
    for (std::int64_t t = 0; t < N; ++t) {
      const double* m = h.ptr<double>() + t * n * n;
      double max_row = 0, max_col = 0;
      for (int i = 0; i < n; ++i) {
        double row = 0, col = 0;
        for (int j = 0; j < n; ++j) {
          row += m[i * n + j];
          col += m[j * n + i];
          CHECK(m[i * n + j] >= 0.0);
        }
        // The last step divides row i by (s + eps), s its sum before: rowsum = s / (s + eps) = 1 - eps / (s + eps).
        // Columns already sum to ~1, so s >= 0.1 and the deficit lies in (0, 10 eps] = (0, 1e-5].
        CHECK(row <= 1.0 + 1e-15);
        CHECK(row >= 1.0 - 10 * eps);
        CHECK(std::fabs(col - 1.0) <= c.column_tol);
        max_row = std::fmax(max_row, row);
        max_col = std::fmax(max_col, col);
      }
      // Always: ||H||_2 <= sqrt(||H||_1 ||H||_inf) = sqrt(max column sum * max row sum) for H >= 0.
      const double sigma = spectral_norm(m, n);
      CHECK(sigma <= std::sqrt(max_col * max_row) + 1e-12);
      if (c.converged) CHECK(sigma <= 1.0 + 1e-5);
    }
  }
}

TEST_CASE("sinkhorn of equal logits is the uniform matrix, and the max shift cancels", "[cpu][sinkhorn]") {
  const std::int64_t n = 3;
  HostTensor logits(DType::f64, Shape{1, n, n}), h(DType::f64, Shape{1, n, n});
  fill_constant(logits, 7.0);
  ops::sinkhorn_forward(h, logits, 5);
  for (std::int64_t k = 0; k < n * n; ++k) CHECK(h.get(k) == Approx(1.0 / n).epsilon(1e-5));

  const HostTensor a = random_tensor(Shape{2, n, n}, "shift"), b = like(a), ha = like(a), hb = like(a);
  for (std::int64_t k = 0; k < a.numel(); ++k) b.set(k, a.get(k) + 100.0);
  ops::sinkhorn_forward(ha, a, 20);
  ops::sinkhorn_forward(hb, b, 20);
  CHECK(max_abs_diff(ha, hb) <= 1e-14);
}

TEST_CASE("sinkhorn f32 agrees with f64", "[cpu][sinkhorn]") {
  test::check_op_f32_vs_f64(test::sinkhorn_case(8, 4, 20, true, 1.0), {{"h", 1e-5}, {"dlogits", 1e-4}});
}

TEST_CASE("sinkhorn rejects bad shapes, iteration counts and devices", "[cpu][sinkhorn]") {
  HostTensor l(DType::f64, Shape{2, 3, 3}), h(DType::f64, Shape{2, 3, 3});
  HostTensor wrong(DType::f64, Shape{2, 3, 4}), big(DType::f64, Shape{1, 9, 9}), f32(DType::f32, Shape{2, 3, 3});
  HostTensor i32(DType::i32, Shape{2, 3, 3});
  CHECK_THROWS_WITH(ops::sinkhorn_forward(h, wrong, 3), Catch::Contains("sinkhorn_forward logits"));
  CHECK_THROWS_WITH(ops::sinkhorn_forward(wrong, l, 3), Catch::Contains("sinkhorn_forward h"));
  CHECK_THROWS_AS(ops::sinkhorn_forward(wrong, l, 3), ShapeError);
  CHECK_THROWS_WITH(ops::sinkhorn_forward(h, l, 0), Catch::Contains("iters"));
  CHECK_THROWS_WITH(ops::sinkhorn_forward(big, big, 3), Catch::Contains("n = 9"));
  CHECK_THROWS_WITH(ops::sinkhorn_forward(f32, l, 3), Catch::Contains("same dtype"));
  CHECK_THROWS_WITH(ops::sinkhorn_forward(i32, i32, 3), Catch::Contains("f32 or f64"));
  CHECK_THROWS_WITH(ops::sinkhorn_backward(h, wrong, l, 3), Catch::Contains("sinkhorn_backward dh"));
  CHECK_THROWS_WITH(ops::sinkhorn_backward(wrong, h, l, 3), Catch::Contains("sinkhorn_backward dlogits"));
  CHECK_THROWS_WITH(ops::sinkhorn_backward(h, h, l, -1), Catch::Contains("iters"));

  // A GPU tensor: no backward kernel yet, and no CUDA at all in a CPU-only build (nothing is dereferenced).
  const Tensor gpu(l.view().data, DType::f32, l.view().shape, Device::cuda);
  CHECK_THROWS_WITH(ops::sinkhorn_backward(gpu, gpu, gpu, 3), Catch::Contains("sinkhorn_backward"));
#ifndef MHC_HAVE_CUDA
  CHECK_THROWS_AS(ops::sinkhorn_forward(gpu, gpu, 3), DeviceError);
  CHECK_THROWS_WITH(ops::sinkhorn_forward(gpu, gpu, 3), Catch::Contains("sinkhorn_forward"));
#endif
  CHECK_THROWS_WITH(ops::sinkhorn_forward(gpu, l, 3), Catch::Contains("sinkhorn_forward h"));
}
