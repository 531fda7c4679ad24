// [cuda] dynamic Hyper-Connections coefficients (GEMMs through ops::matmul, tanh gates and token sums in
// kernels/hc_coeffs.cu) vs the CPU oracle run in f64 on the same f32 inputs, through the ops::hc_coeffs_* entry points.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "cuda/device_support.hpp"
#include "cuda/f32_inputs.hpp"
#include "cuda/sum_tolerance.hpp"
#include "ops/hc_coeffs.hpp"

using namespace mhc;
using namespace mhc::test;

namespace {

const double kU = std::ldexp(1.0, -24);  // f32 unit roundoff

HostTensor f64(const HostTensor& t) { return to_dtype(t, DType::f64); }

// One residual layer's f32 inputs and upstream gradients. w ~ N(0, 1/C) keeps proj ~ N(0, 1) (tanh not saturated).
struct HcCase {
  std::int64_t N, n, C, P;
  HostTensor xb, w, s, am, ar, bb, dh_pre, dh_post, dh_res, dw0, ds0, dam0, dar0, dbb0;
  HcCase(std::int64_t N_, std::int64_t n_, std::int64_t C_)
      : N(N_), n(n_), C(C_), P(n_ + 2),
        xb(random_f32(Shape{N, n, C}, "cuda.hc.xb")),
        w(random_f32(Shape{C, P}, "cuda.hc.w", 1.0 / std::sqrt(static_cast<double>(C)))),
        s(HostTensor(DType::f32, Shape{2})),
        am(random_f32(Shape{n}, "cuda.hc.am")),
        ar(random_f32(Shape{n, n}, "cuda.hc.ar")),
        bb(random_f32(Shape{n}, "cuda.hc.bb")),
        dh_pre(random_f32(Shape{N, n}, "cuda.hc.dh_pre")),
        dh_post(random_f32(Shape{N, n}, "cuda.hc.dh_post")),
        dh_res(random_f32(Shape{N, n, n}, "cuda.hc.dh_res")),
        dw0(random_f32(Shape{C, P}, "cuda.hc.dw0")),
        ds0(random_f32(Shape{2}, "cuda.hc.ds0")),
        dam0(random_f32(Shape{n}, "cuda.hc.dam0")),
        dar0(random_f32(Shape{n, n}, "cuda.hc.dar0")),
        dbb0(random_f32(Shape{n}, "cuda.hc.dbb0")) {
    s.set(0, 0.7);
    s.set(1, -1.3);
  }
  std::int64_t bytes() const { return 4 * (N * n * (2 * C + 3 * P + 2 * n + 4) + 2 * C * P + 2 * n * n + 6 * n + 8); }
  // The gradient of the coefficient made from proj[t, i, c] (dh_pre, dh_res^T, dh_post) and its gate scale.
  double grad(std::int64_t t, std::int64_t i, std::int64_t c) const {
    if (c == 0) return dh_pre.get(t * n + i);
    if (c <= n) return dh_res.get((t * n + c - 1) * n + i);
    return dh_post.get(t * n + i);
  }
  double scale(std::int64_t c) const { return s.get(c <= n ? 0 : 1); }
};

std::string shape_tag(std::int64_t N, std::int64_t n, std::int64_t C) {
  return "N " + std::to_string(N) + " n " + std::to_string(n) + " C " + std::to_string(C);
}

void check_hc(std::int64_t N, std::int64_t n, std::int64_t C) {
  const std::string tag = shape_tag(N, n, C);
  INFO(tag);
  const HcCase k(N, n, C);
  const std::int64_t P = k.P, R = N * n;  // R GEMM rows (token, stream)
  Arena arena = device_arena(3 * k.bytes());
  const auto up = [&](const HostTensor& h, const char* what) { return upload(arena, h, what); };
  const auto nan = [&](Shape shape, const char* what) { return up(nan_tensor(DType::f32, shape), what); };

  // ---- forward ----
  const HostTensor h_pre(DType::f64, Shape{N, n}), h_post(DType::f64, Shape{N, n}), h_res(DType::f64, Shape{N, n, n});
  const HostTensor proj(DType::f64, Shape{N, n, P});
  ops::hc_coeffs_forward(h_pre, h_post, h_res, proj, f64(k.xb), f64(k.w), f64(k.s), f64(k.am), f64(k.ar), f64(k.bb));
  const Tensor d_xb = up(k.xb, "xb"), d_w = up(k.w, "w"), d_s = up(k.s, "s");
  const Tensor g_pre = nan(Shape{N, n}, "h_pre"), g_post = nan(Shape{N, n}, "h_post");
  const Tensor g_res = nan(Shape{N, n, n}, "h_res"), g_proj = nan(Shape{N, n, P}, "proj");
  ops::hc_coeffs_forward(g_pre, g_post, g_res, g_proj, d_xb, d_w, d_s, up(k.am, "am"), up(k.ar, "ar"), up(k.bb, "bb"));

  // proj: a sum of C products in fp32 (cuBLAS order): the sum tolerance of sum_tolerance.hpp.
  HostTensor tol_proj(DType::f64, Shape{N, n, P});
  for (std::int64_t r = 0; r < R; ++r)
    for (std::int64_t c = 0; c < P; ++c) {
      double a = 0;
      for (std::int64_t q = 0; q < C; ++q) a += std::fabs(k.xb.get(r * C + q) * k.w.get(q * P + c));
      tol_proj.set(r * P + c, sum_tolerance(a, static_cast<double>(C)));
    }
  check_within("proj (" + tag + ")", download(g_proj), proj, tol_proj);
  // h = s tanh(proj) + offset: tanh is 1-Lipschitz, so the proj error passes on times |s|; tanhf (<= 2 ulp), the
  // product and the sum each add a few units of roundoff of |s| + |offset|: 8 u (|s| + |offset|) bounds them.
  HostTensor tol_pre(DType::f64, Shape{N, n}), tol_post(DType::f64, Shape{N, n}), tol_res(DType::f64, Shape{N, n, n});
  for (std::int64_t t = 0; t < N; ++t)
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t r = t * n + i;
      const auto tol = [&](std::int64_t c, double offset) {
        return std::fabs(k.scale(c)) * tol_proj.get(r * P + c) + 8 * kU * (std::fabs(k.scale(c)) + std::fabs(offset));
      };
      tol_pre.set(r, tol(0, k.am.get(i)));
      tol_post.set(r, tol(n + 1, k.bb.get(i)));
      for (std::int64_t j = 0; j < n; ++j) tol_res.set((t * n + j) * n + i, tol(1 + j, k.ar.get(i * n + j)));
    }
  check_within("h_pre (" + tag + ")", download(g_pre), h_pre, tol_pre);
  check_within("h_post (" + tag + ")", download(g_post), h_post, tol_post);
  check_within("h_res (" + tag + ")", download(g_res), h_res, tol_res);

  // ---- backward: both sides read the same saved proj (the oracle's, rounded to f32) ----
  const HostTensor proj32 = to_dtype(proj, DType::f32);
  const Tensor d_proj = up(proj32, "proj32"), d_pre = up(k.dh_pre, "dh_pre"), d_post = up(k.dh_post, "dh_post");
  const Tensor d_res = up(k.dh_res, "dh_res");
  const HostTensor dxb(DType::f64, Shape{N, n, C}), dproj(DType::f64, Shape{N, n, P});
  ops::hc_coeffs_backward_input(dxb, dproj, f64(k.dh_pre), f64(k.dh_post), f64(k.dh_res), f64(proj32), f64(k.w),
                                f64(k.s));
  const Tensor g_dxb = nan(Shape{N, n, C}, "dxb"), g_dproj = nan(Shape{N, n, P}, "dproj");
  ops::hc_coeffs_backward_input(g_dxb, g_dproj, d_pre, d_post, d_res, d_proj, d_w, d_s);
  // dproj = g s (1 - th^2): tanhf's 2 ulp (<= 4 u th) become <= 9 u th^2 in the rounded th^2; 1 - th^2 and the
  // two products add 3 u of |g s| at most: 12 u |g s| bounds the sum.
  HostTensor tol_dproj(DType::f64, Shape{N, n, P}), tol_dxb(DType::f64, Shape{N, n, C});
  for (std::int64_t r = 0; r < R; ++r)
    for (std::int64_t c = 0; c < P; ++c)
      tol_dproj.set(r * P + c, 12 * kU * std::fabs(k.grad(r / n, r % n, c) * k.scale(c)));
  check_within("dproj (" + tag + ")", download(g_dproj), dproj, tol_dproj);
  // dxb = dproj w^T: the dproj errors times |w|, plus the sum tolerance of P products.
  for (std::int64_t r = 0; r < R; ++r)
    for (std::int64_t q = 0; q < C; ++q) {
      double a = 0, from_dproj = 0;
      for (std::int64_t c = 0; c < P; ++c) {
        a += std::fabs(dproj.get(r * P + c) * k.w.get(q * P + c));
        from_dproj += tol_dproj.get(r * P + c) * std::fabs(k.w.get(q * P + c));
      }
      tol_dxb.set(r * C + q, from_dproj + sum_tolerance(a, static_cast<double>(P)));
    }
  check_within("dxb (" + tag + ")", download(g_dxb), dxb, tol_dxb);

  // ---- W, twice onto the same accumulators (expect twice the sums): reads the oracle's dproj rounded to f32 ----
  const HostTensor dproj32 = to_dtype(dproj, DType::f32);
  const HostTensor dw = f64(k.dw0), ds = f64(k.ds0), dam = f64(k.dam0), dar = f64(k.dar0), dbb = f64(k.dbb0);
  const Tensor g_dw = up(k.dw0, "dw"), g_ds = up(k.ds0, "ds"), g_dam = up(k.dam0, "dam"), g_dar = up(k.dar0, "dar");
  const Tensor g_dbb = up(k.dbb0, "dbb"), d_dproj = up(dproj32, "dproj32");
  for (int pass = 0; pass < 2; ++pass) {
    ops::hc_coeffs_backward_weight(dw, ds, dam, dar, dbb, f64(dproj32), f64(k.dh_pre), f64(k.dh_post), f64(k.dh_res),
                                   f64(k.xb), f64(proj32));
    ops::hc_coeffs_backward_weight(g_dw, g_ds, g_dam, g_dar, g_dbb, d_dproj, d_pre, d_post, d_res, d_xb, d_proj);
  }
  // Sums of 2 x (tokens) terms plus the initial value; abs sums below are of one pass, doubled.
  HostTensor abs_dw(DType::f64, Shape{C, P}), abs_ds(DType::f64, Shape{2}), abs_dam(DType::f64, Shape{n});
  HostTensor abs_dar(DType::f64, Shape{n, n}), abs_dbb(DType::f64, Shape{n});
  for (std::int64_t q = 0; q < C; ++q)
    for (std::int64_t c = 0; c < P; ++c) {
      double a = 0;
      for (std::int64_t r = 0; r < R; ++r) a += std::fabs(k.xb.get(r * C + q) * dproj32.get(r * P + c));
      abs_dw.set(q * P + c, std::fabs(k.dw0.get(q * P + c)) + 2 * a);
    }
  for (std::int64_t i = 0; i < 2; ++i) abs_ds.set(i, std::fabs(k.ds0.get(i)));
  for (std::int64_t i = 0; i < n; ++i) {
    abs_dam.set(i, std::fabs(k.dam0.get(i)));
    abs_dbb.set(i, std::fabs(k.dbb0.get(i)));
    for (std::int64_t j = 0; j < n; ++j) abs_dar.set(i * n + j, std::fabs(k.dar0.get(i * n + j)));
  }
  for (std::int64_t r = 0; r < R; ++r) {
    const std::int64_t t = r / n, i = r % n;
    for (std::int64_t c = 0; c < P; ++c) {
      const double g = k.grad(t, i, c), gt = 2 * std::fabs(g * std::tanh(proj32.get(r * P + c)));
      HostTensor& target = c == 0 ? abs_dam : (c <= n ? abs_dar : abs_dbb);
      const std::int64_t e = c == 0 || c == n + 1 ? i : i * n + c - 1;
      target.set(e, target.get(e) + 2 * std::fabs(g));
      abs_ds.set(c <= n ? 0 : 1, abs_ds.get(c <= n ? 0 : 1) + gt);
    }
  }
  const double terms = 2.0 * static_cast<double>(N) + 1;
  check_sum_close("dw (" + tag + ")", download(g_dw), dw, abs_dw, 2.0 * static_cast<double>(R) + 1);
  check_sum_close("ds (" + tag + ")", download(g_ds), ds, abs_ds, 2.0 * static_cast<double>(R * (n + 1)) + 1);
  check_sum_close("dam (" + tag + ")", download(g_dam), dam, abs_dam, terms);
  check_sum_close("dar (" + tag + ")", download(g_dar), dar, abs_dar, terms);
  check_sum_close("dbb (" + tag + ")", download(g_dbb), dbb, abs_dbb, terms);

  // The token sums repeat their bits: one more pass from the same start twice.
  HostTensor runs[2][3];
  for (auto& run : runs) {
    const Tensor s2 = up(k.ds0, "ds2"), am2 = up(k.dam0, "dam2"), ar2 = up(k.dar0, "dar2"), bb2 = up(k.dbb0, "dbb2");
    ops::hc_coeffs_backward_weight(up(k.dw0, "dw2"), s2, am2, ar2, bb2, d_dproj, d_pre, d_post, d_res, d_xb, d_proj);
    run[0] = download(s2);
    run[1] = download(ar2);
    run[2] = download(bb2);
  }
  for (int e = 0; e < 3; ++e) check_close("two runs (" + tag + ")", runs[0][e], runs[1][e], 0.0, 0.0);
}

}  // namespace

TEST_CASE("hc_coeffs CUDA forward and backward match the f64 CPU oracle", "[cuda][hc]") {
  for (const std::int64_t n : {1, 4})
    for (const std::int64_t C : {8, 64, 257})
      for (const std::int64_t N : {1, 37, 300}) check_hc(N, n, C);
  check_hc(9000, 4, 8);  // more tokens than 256 chunks of 32: longer chunks
}

TEST_CASE("hc_coeffs on CUDA wants f32 tensors on one device", "[cuda][hc]") {
  const HcCase k(3, 2, 8);
  Arena arena = device_arena(4 * k.bytes() + 4096);
  const auto up = [&](const HostTensor& h, const char* what) { return upload(arena, h, what); };
  const Tensor xb = up(k.xb, "xb"), w = up(k.w, "w"), s = up(k.s, "s"), am = up(k.am, "am"), ar = up(k.ar, "ar");
  const Tensor bb = up(k.bb, "bb"), h_pre = up(k.dh_pre, "h_pre"), h_post = up(k.dh_post, "h_post");
  const Tensor h_res = up(k.dh_res, "h_res"), proj = arena.alloc(DType::f32, Shape{3, 2, 4}, "proj");
  CHECK_THROWS_AS(ops::hc_coeffs_forward(h_pre, h_post, h_res, proj, xb, k.w, s, am, ar, bb), ShapeError);  // host w
  CHECK_THROWS_AS(ops::hc_coeffs_forward(h_pre, h_post, h_res, proj, xb, w, s, am, ar, k.bb), ShapeError);  // host bb
  const Tensor xb64 = arena.alloc(DType::f64, Shape{3, 2, 8}, "xb64");
  CHECK_THROWS_AS(ops::hc_coeffs_forward(h_pre, h_post, h_res, proj, xb64, w, s, am, ar, bb), ShapeError);
  CHECK_THROWS_AS(ops::hc_init_parameters(w, s, am, ar, bb, 0), ShapeError);  // the init is CPU-only
}
