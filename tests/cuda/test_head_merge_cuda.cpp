// [cuda] stream merges before the final norm (plain sum; gate with its GEMMs through ops::matmul and the rest in
// kernels/head_merge.cu) vs the CPU oracle run in f64 on the same f32 inputs, through the ops::* entry points.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "cuda/device_support.hpp"
#include "cuda/f32_inputs.hpp"
#include "cuda/sum_tolerance.hpp"
#include "ops/cases/head_merge.hpp"
#include "ops/head_merge.hpp"

using namespace mhc;
using namespace mhc::test;

namespace {

const double kU = std::ldexp(1.0, -24);  // f32 unit roundoff

HostTensor f64(const HostTensor& t) { return to_dtype(t, DType::f64); }

std::string shape_tag(std::int64_t N, std::int64_t n, std::int64_t C) {
  return "N " + std::to_string(N) + " n " + std::to_string(n) + " C " + std::to_string(C);
}

// y: n - 1 f32 additions (within the sum tolerance of n terms); dx: copies of f32 values, exact.
void check_stream_sum(std::int64_t N, std::int64_t n, std::int64_t C) {
  const OpTolerance y_bound([=](const OpHostTensors& o) {
    const HostTensor& x = o.owned.at("x");
    HostTensor tol(DType::f64, Shape{N, C});
    for (std::int64_t t = 0; t < N; ++t)
      for (std::int64_t c = 0; c < C; ++c) {
        double a = 0;
        for (std::int64_t i = 0; i < n; ++i) a += std::fabs(x.get((t * n + i) * C + c));
        tol.set(t * C + c, sum_tolerance(a, static_cast<double>(n)));
      }
    return tol;
  });
  check_op_cuda(stream_sum_case(N, n, C), DType::f64, {{"y", y_bound}, {"dx", {0.0, 0.0}}});
}

// One gate's f32 inputs. phi ~ N(0, 1/D) keeps proj ~ N(0, 1) for x ~ N(0, 1) (rstd ~ 1): the sigmoids are not
// saturated, so their slopes (and the gradients) are O(1).
struct GateCase {
  std::int64_t N, n, C, D;
  HostTensor x, phi, alpha, bias, dy, dphi0, dalpha0, dbias0;
  GateCase(std::int64_t N_, std::int64_t n_, std::int64_t C_)
      : N(N_), n(n_), C(C_), D(n_ * C_),
        x(random_f32(Shape{N, n, C}, "cuda.gate.x")),
        phi(random_f32(Shape{D, n}, "cuda.gate.phi", 1.0 / std::sqrt(static_cast<double>(D)))),
        alpha(HostTensor(DType::f32, Shape{1})),
        bias(random_f32(Shape{n}, "cuda.gate.bias", 0.5)),
        dy(random_f32(Shape{N, C}, "cuda.gate.dy")),
        dphi0(random_f32(Shape{D, n}, "cuda.gate.dphi0")),
        dalpha0(random_f32(Shape{1}, "cuda.gate.dalpha0")),
        dbias0(random_f32(Shape{n}, "cuda.gate.dbias0")) {
    alpha.set(0, 0.9);
  }
  std::int64_t bytes() const { return 4 * (4 * N * D + 4 * N * C + 8 * N * n + 4 * N + 3 * D * n + 3 * n + 8); }
};

void check_gate(std::int64_t N, std::int64_t n, std::int64_t C) {
  const std::string tag = shape_tag(N, n, C);
  INFO(tag);
  const GateCase k(N, n, C);
  const std::int64_t D = k.D;
  const double a = k.alpha.get(0);
  Arena arena = device_arena(3 * k.bytes());
  const auto up = [&](const HostTensor& h, const char* what) { return upload(arena, h, what); };
  const auto nan = [&](Shape shape, const char* what) { return up(nan_tensor(DType::f32, shape), what); };

  // ---- forward ----
  const HostTensor y(DType::f64, Shape{N, C}), w(DType::f64, Shape{N, n}), proj(DType::f64, Shape{N, n});
  const HostTensor rstd(DType::f64, Shape{N});
  ops::head_merge_gate_forward(y, w, proj, rstd, f64(k.x), f64(k.phi), f64(k.alpha), f64(k.bias));
  const Tensor d_x = up(k.x, "x"), d_phi = up(k.phi, "phi"), d_alpha = up(k.alpha, "alpha");
  const Tensor g_y = nan(Shape{N, C}, "y"), g_w = nan(Shape{N, n}, "w"), g_proj = nan(Shape{N, n}, "proj");
  const Tensor g_rstd = nan(Shape{N}, "rstd");
  ops::head_merge_gate_forward(g_y, g_w, g_proj, g_rstd, d_x, d_phi, d_alpha, up(k.bias, "bias"));

  // proj: a sum of D products in fp32 (cuBLAS order): the sum tolerance of sum_tolerance.hpp.
  HostTensor tol_proj(DType::f64, Shape{N, n}), tol_w(DType::f64, Shape{N, n}), tol_y(DType::f64, Shape{N, C});
  for (std::int64_t t = 0; t < N; ++t)
    for (std::int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (std::int64_t d = 0; d < D; ++d) s += std::fabs(k.x.get(t * D + d) * k.phi.get(d * n + i));
      tol_proj.set(t * n + i, sum_tolerance(s, static_cast<double>(D)));
      // w = sigmoid(alpha proj rstd + bias) + eps: the sigmoid's slope is <= 1/4, so the logit's error (the proj
      // error times |alpha| rstd, plus the roundings of alpha (proj rstd) + bias and of rstd: 4 u of their
      // magnitudes) passes on quartered; expf (<= 2 ulp), the sum, the division and + eps add <= 8 u (w < 1.01).
      const double r = rstd.get(t), logit_abs = std::fabs(a * proj.get(t * n + i) * r) + std::fabs(k.bias.get(i));
      tol_w.set(t * n + i, 0.25 * (std::fabs(a) * r * tol_proj.get(t * n + i) + 4 * kU * logit_abs) + 8 * kU);
    }
  check_within("proj (" + tag + ")", download(g_proj), proj, tol_proj);
  // rstd: the sum of squares in double, rounded once to f32 (the oracle's f64 value differs by ~1e-16): 1 ulp.
  check_close("rstd (" + tag + ")", download(g_rstd), rstd, 0.0, 2 * kU);
  check_within("w (" + tag + ")", download(g_w), w, tol_w);
  // y = sum_i w_i x_i: the w errors times |x_i|, plus n products and n - 1 sums in f32 (the sum tolerance).
  for (std::int64_t t = 0; t < N; ++t)
    for (std::int64_t c = 0; c < C; ++c) {
      double from_w = 0, abs_terms = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        const double xv = std::fabs(k.x.get((t * n + i) * C + c));
        from_w += tol_w.get(t * n + i) * xv;
        abs_terms += w.get(t * n + i) * xv;
      }
      tol_y.set(t * C + c, from_w + sum_tolerance(abs_terms, static_cast<double>(n)));
    }
  check_within("y (" + tag + ")", download(g_y), y, tol_y);

  // ---- B: both sides read the same saved w, proj, rstd (the oracle's, rounded to f32) ----
  const HostTensor w32 = to_dtype(w, DType::f32), proj32 = to_dtype(proj, DType::f32);
  const HostTensor rstd32 = to_dtype(rstd, DType::f32);
  const Tensor d_w = up(w32, "w32"), d_proj = up(proj32, "proj32"), d_rstd = up(rstd32, "rstd32");
  const HostTensor dx(DType::f64, Shape{N, n, C}), dlogit(DType::f64, Shape{N, n});
  ops::head_merge_gate_backward_input(dx, dlogit, f64(k.dy), f64(k.x), f64(k.phi), f64(k.alpha), f64(w32),
                                      f64(proj32), f64(rstd32));
  const Tensor g_dx = nan(Shape{N, n, C}, "dx"), g_dlogit = nan(Shape{N, n}, "dlogit");
  ops::head_merge_gate_backward_input(g_dx, g_dlogit, up(k.dy, "dy"), d_x, d_phi, d_alpha, d_w, d_proj, d_rstd);
  // dlogit: the dot in double, the rest in double, rounded once to f32 (1 ulp); the atol covers dots that cancel
  // (the double error is ~1e-16 of sum |dy x|, at most ~1e-12 here).
  check_close("dlogit (" + tag + ")", download(g_dlogit), dlogit, 1e-10, 2 * kU);
  // dx = (w_i dy + coef x, in double, rounded once) + sum_i dproj_i phi (n products in f32, dproj rounded once):
  // the sum tolerance of n + 2 terms over their absolute values.
  HostTensor abs_dx(DType::f64, Shape{N, n, C});
  for (std::int64_t t = 0; t < N; ++t) {
    const double r = rstd32.get(t);
    double drstd = 0;
    for (std::int64_t i = 0; i < n; ++i) drstd += std::fabs(a * dlogit.get(t * n + i) * proj32.get(t * n + i));
    const double coef = drstd * r * r * r / static_cast<double>(D);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t c = 0; c < C; ++c) {
        const std::int64_t e = (t * n + i) * C + c;
        double s = std::fabs(w32.get(t * n + i) * k.dy.get(t * C + c)) + coef * std::fabs(k.x.get(e));
        for (std::int64_t j = 0; j < n; ++j)
          s += std::fabs(a * dlogit.get(t * n + j) * r * k.phi.get((i * C + c) * n + j));
        abs_dx.set(e, s);
      }
  }
  check_sum_close("dx (" + tag + ")", download(g_dx), dx, abs_dx, static_cast<double>(n + 2));

  // ---- W, twice onto the same accumulators (expect twice the sums): reads the oracle's dlogit rounded to f32 ----
  const HostTensor dlogit32 = to_dtype(dlogit, DType::f32);
  const HostTensor dphi = f64(k.dphi0), dalpha = f64(k.dalpha0), dbias = f64(k.dbias0);
  const Tensor g_dphi = up(k.dphi0, "dphi"), g_dalpha = up(k.dalpha0, "dalpha"), g_dbias = up(k.dbias0, "dbias");
  const Tensor d_dlogit = up(dlogit32, "dlogit32");
  for (int pass = 0; pass < 2; ++pass) {
    ops::head_merge_gate_backward_weight(dphi, dalpha, dbias, f64(dlogit32), f64(k.x), f64(proj32), f64(rstd32),
                                         f64(k.alpha));
    ops::head_merge_gate_backward_weight(g_dphi, g_dalpha, g_dbias, d_dlogit, d_x, d_proj, d_rstd, d_alpha);
  }
  // Sums of 2 x (tokens) terms plus the initial value; dproj = (alpha g) rstd carries 2 roundings per term, within
  // the sum tolerance.
  HostTensor abs_dphi(DType::f64, Shape{D, n}), abs_dalpha(DType::f64, Shape{1}), abs_dbias(DType::f64, Shape{n});
  for (std::int64_t e = 0; e < D * n; ++e) abs_dphi.set(e, std::fabs(k.dphi0.get(e)));
  abs_dalpha.set(0, std::fabs(k.dalpha0.get(0)));
  for (std::int64_t i = 0; i < n; ++i) abs_dbias.set(i, std::fabs(k.dbias0.get(i)));
  for (std::int64_t t = 0; t < N; ++t)
    for (std::int64_t i = 0; i < n; ++i) {
      const double g = dlogit32.get(t * n + i), r = rstd32.get(t);
      abs_dbias.set(i, abs_dbias.get(i) + 2 * std::fabs(g));
      abs_dalpha.set(0, abs_dalpha.get(0) + 2 * std::fabs(g * proj32.get(t * n + i) * r));
      for (std::int64_t d = 0; d < D; ++d)
        abs_dphi.set(d * n + i, abs_dphi.get(d * n + i) + 2 * std::fabs(k.x.get(t * D + d) * a * g * r));
    }
  const double terms = 2.0 * static_cast<double>(N) + 1;
  check_sum_close("dphi (" + tag + ")", download(g_dphi), dphi, abs_dphi, terms);
  check_sum_close("dbias (" + tag + ")", download(g_dbias), dbias, abs_dbias, terms);
  check_sum_close("dalpha (" + tag + ")", download(g_dalpha), dalpha, abs_dalpha, 2.0 * static_cast<double>(N * n) + 1);

  // The token sums repeat their bits: one more pass from the same start twice.
  HostTensor runs[2][2];
  for (auto& run : runs) {
    const Tensor da2 = up(k.dalpha0, "dalpha2"), db2 = up(k.dbias0, "dbias2");
    ops::head_merge_gate_backward_weight(up(k.dphi0, "dphi2"), da2, db2, d_dlogit, d_x, d_proj, d_rstd, d_alpha);
    run[0] = download(da2);
    run[1] = download(db2);
  }
  for (int e = 0; e < 2; ++e) check_close("two runs (" + tag + ")", runs[0][e], runs[1][e], 0.0, 0.0);
}

}  // namespace

TEST_CASE("stream_sum CUDA forward and backward match the f64 CPU oracle", "[cuda][head_merge]") {
  for (const std::int64_t n : {1, 4})
    for (const std::int64_t C : {8, 64, 257})
      for (const std::int64_t N : {1, 37, 300}) check_stream_sum(N, n, C);
}

TEST_CASE("head_merge gate CUDA forward and backward match the f64 CPU oracle", "[cuda][head_merge]") {
  for (const std::int64_t n : {1, 4})
    for (const std::int64_t C : {8, 64, 257})
      for (const std::int64_t N : {1, 37, 300}) check_gate(N, n, C);
  check_gate(9000, 4, 8);  // more tokens than 256 chunks of 32: longer chunks
}

TEST_CASE("head_merge on CUDA wants f32 tensors on one device", "[cuda][head_merge]") {
  const GateCase k(3, 2, 8);
  Arena arena = device_arena(4 * k.bytes() + 4096);
  const auto up = [&](const HostTensor& h, const char* what) { return upload(arena, h, what); };
  const Tensor x = up(k.x, "x"), phi = up(k.phi, "phi"), alpha = up(k.alpha, "alpha"), bias = up(k.bias, "bias");
  const Tensor y = up(k.dy, "y"), w = arena.alloc(DType::f32, Shape{3, 2}, "w");
  const Tensor proj = arena.alloc(DType::f32, Shape{3, 2}, "proj"), rstd = arena.alloc(DType::f32, Shape{3}, "rstd");
  CHECK_THROWS_AS(ops::head_merge_gate_forward(y, w, proj, rstd, x, k.phi, alpha, bias), ShapeError);  // host phi
  CHECK_THROWS_AS(ops::head_merge_gate_forward(y, w, proj, rstd, x, phi, alpha, k.bias), ShapeError);  // host bias
  CHECK_THROWS_AS(ops::stream_sum_forward(k.dy, x), ShapeError);                                        // host y
  const Tensor x64 = arena.alloc(DType::f64, Shape{3, 2, 8}, "x64");
  CHECK_THROWS_AS(ops::stream_sum_forward(y, x64), ShapeError);
}
