// [cuda] dynamic Hyper-Connections coefficients (GEMMs through ops::matmul, tanh gates and token sums in
// kernels/hc_coeffs.cu) vs the CPU oracle run in f64 on the same f32 inputs: the harness's case (ops/cases/) with
// per-element bounds derived from the oracle's tensors.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <map>
#include <string>

#include "cuda/device_support.hpp"
#include "cuda/f32_inputs.hpp"
#include "cuda/sum_tolerance.hpp"
#include "ops/cases/hc_coeffs.hpp"
#include "ops/hc_coeffs.hpp"

using namespace mhc;
using namespace mhc::test;

namespace {

const double kU = std::ldexp(1.0, -24);  // f32 unit roundoff

// The oracle's upstream gradient of the coefficient made from proj[t, i, c] (dh_pre, dh_res^T, dh_post) and its
// gate scale s_a (c <= n) or s_b.
double upstream(const OpHostTensors& o, std::int64_t n, std::int64_t t, std::int64_t i, std::int64_t c) {
  if (c == 0) return o.owned.at("dh_pre").get(t * n + i);
  if (c <= n) return o.owned.at("dh_res").get((t * n + c - 1) * n + i);
  return o.owned.at("dh_post").get(t * n + i);
}
double gate_scale(const OpHostTensors& o, std::int64_t n, std::int64_t c) {
  return o.owned.at("s").get(c <= n ? 0 : 1);
}

// proj: a sum of C products in fp32 (cuBLAS order): the sum tolerance of sum_tolerance.hpp.
HostTensor proj_bound(const OpHostTensors& o, std::int64_t N, std::int64_t n, std::int64_t C) {
  const std::int64_t P = n + 2;
  const HostTensor &xb = o.owned.at("xb"), &w = o.owned.at("w");
  HostTensor tol(DType::f64, Shape{N, n, P});
  for (std::int64_t r = 0; r < N * n; ++r)
    for (std::int64_t c = 0; c < P; ++c) {
      double a = 0;
      for (std::int64_t q = 0; q < C; ++q) a += std::fabs(xb.get(r * C + q) * w.get(q * P + c));
      tol.set(r * P + c, sum_tolerance(a, static_cast<double>(C)));
    }
  return tol;
}

// h = s tanh(proj) + offset: tanh is 1-Lipschitz, so the proj error passes on times |s|; tanhf (<= 2 ulp), the
// product and the sum each add a few units of roundoff of |s| + |offset|: 8 u (|s| + |offset|) bounds them.
// which: 0 h_pre (offset am), 1 h_res (ar, transposed), 2 h_post (bb).
OpTolerance gate_bound(std::int64_t N, std::int64_t n, std::int64_t C, int which) {
  return OpTolerance([=](const OpHostTensors& o) {
    const std::int64_t P = n + 2;
    const HostTensor tol_proj = proj_bound(o, N, n, C);
    const HostTensor &am = o.owned.at("am"), &ar = o.owned.at("ar"), &bb = o.owned.at("bb");
    HostTensor tol(DType::f64, which == 1 ? Shape{N, n, n} : Shape{N, n});
    for (std::int64_t t = 0; t < N; ++t)
      for (std::int64_t i = 0; i < n; ++i) {
        const std::int64_t r = t * n + i;
        const auto at = [&](std::int64_t c, double offset) {
          const double sc = std::fabs(gate_scale(o, n, c));
          return sc * tol_proj.get(r * P + c) + 8 * kU * (sc + std::fabs(offset));
        };
        if (which == 0) tol.set(r, at(0, am.get(i)));
        if (which == 2) tol.set(r, at(n + 1, bb.get(i)));
        if (which == 1)
          for (std::int64_t j = 0; j < n; ++j) tol.set((t * n + j) * n + i, at(1 + j, ar.get(i * n + j)));
      }
    return tol;
  });
}

// dproj = g s (1 - th^2): tanhf's 2 ulp (<= 4 u th) become <= 9 u th^2 in the rounded th^2; 1 - th^2 and the two
// products add 3 u of |g s| at most: 12 u |g s| bounds the sum.
HostTensor dproj_bound(const OpHostTensors& o, std::int64_t N, std::int64_t n) {
  const std::int64_t P = n + 2;
  HostTensor tol(DType::f64, Shape{N, n, P});
  for (std::int64_t r = 0; r < N * n; ++r)
    for (std::int64_t c = 0; c < P; ++c)
      tol.set(r * P + c, 12 * kU * std::fabs(upstream(o, n, r / n, r % n, c) * gate_scale(o, n, c)));
  return tol;
}

// dxb = dproj w^T: the dproj errors times |w|, plus the sum tolerance of P products.
HostTensor dxb_bound(const OpHostTensors& o, std::int64_t N, std::int64_t n, std::int64_t C) {
  const std::int64_t P = n + 2;
  const HostTensor tol_dproj = dproj_bound(o, N, n);
  const HostTensor &dproj = o.owned.at("dproj"), &w = o.owned.at("w");
  HostTensor tol(DType::f64, Shape{N, n, C});
  for (std::int64_t r = 0; r < N * n; ++r)
    for (std::int64_t q = 0; q < C; ++q) {
      double a = 0, from_dproj = 0;
      for (std::int64_t c = 0; c < P; ++c) {
        a += std::fabs(dproj.get(r * P + c) * w.get(q * P + c));
        from_dproj += tol_dproj.get(r * P + c) * std::fabs(w.get(q * P + c));
      }
      tol.set(r * C + q, from_dproj + sum_tolerance(a, static_cast<double>(P)));
    }
  return tol;
}

// W: sums over the tokens (and streams) onto the prior, from the oracle's dproj rounded to f32 (what both sides
// read): the sum tolerance of |prior| + sum |terms|, per gradient.
OpTolerance weight_bound(const OpCase& hc, std::int64_t N, std::int64_t n, std::int64_t C, const std::string& grad) {
  return OpTolerance([=](const OpHostTensors& o) {
    const std::int64_t P = n + 2, R = N * n;
    const HostTensor &xb = o.owned.at("xb"), &dproj = o.owned.at("dproj"), &proj = o.owned.at("proj");
    const std::string input = grad.substr(1);
    HostTensor abs = gradient_prior(hc, input);
    for (std::int64_t k = 0; k < abs.numel(); ++k) abs.set(k, std::fabs(abs.get(k)));
    double terms = static_cast<double>(N) + 1;
    if (grad == "dw") {
      terms = static_cast<double>(R) + 1;
      for (std::int64_t q = 0; q < C; ++q)
        for (std::int64_t c = 0; c < P; ++c) {
          double a = 0;
          for (std::int64_t r = 0; r < R; ++r) a += std::fabs(xb.get(r * C + q) * dproj.get(r * P + c));
          abs.set(q * P + c, abs.get(q * P + c) + a);
        }
    } else {
      if (grad == "ds") terms = static_cast<double>(R * (n + 1)) + 1;
      for (std::int64_t r = 0; r < R; ++r) {
        const std::int64_t t = r / n, i = r % n;
        for (std::int64_t c = 0; c < P; ++c) {
          const double g = upstream(o, n, t, i, c);
          if (grad == "ds") {
            const std::int64_t e = c <= n ? 0 : 1;
            abs.set(e, abs.get(e) + std::fabs(g * std::tanh(proj.get(r * P + c))));
          } else if ((grad == "dam" && c == 0) || (grad == "dbb" && c == n + 1)) {
            abs.set(i, abs.get(i) + std::fabs(g));
          } else if (grad == "dar" && c >= 1 && c <= n) {
            abs.set(i * n + c - 1, abs.get(i * n + c - 1) + std::fabs(g));
          }
        }
      }
    }
    HostTensor tol(DType::f64, abs.view().shape);
    for (std::int64_t k = 0; k < tol.numel(); ++k) tol.set(k, sum_tolerance(abs.get(k), terms));
    return tol;
  });
}

void check_hc(std::int64_t N, std::int64_t n, std::int64_t C) {
  const OpCase c = hc_coeffs_case(N, n, C);
  INFO(c.op);
  const auto bound = [](std::function<HostTensor(const OpHostTensors&)> f) { return OpTolerance(std::move(f)); };
  std::map<std::string, OpTolerance> tolerance{
      {"proj", bound([=](const OpHostTensors& o) { return proj_bound(o, N, n, C); })},
      {"h_pre", gate_bound(N, n, C, 0)},
      {"h_res", gate_bound(N, n, C, 1)},
      {"h_post", gate_bound(N, n, C, 2)},
      {"dproj", bound([=](const OpHostTensors& o) { return dproj_bound(o, N, n); })},
      {"dxb", bound([=](const OpHostTensors& o) { return dxb_bound(o, N, n, C); })}};
  for (const char* g : {"dw", "ds", "dam", "dar", "dbb"}) tolerance.emplace(g, weight_bound(c, N, n, C, g));
  const CudaOpRun run = check_op_cuda(c, DType::f64, tolerance);

  // The token sums repeat their bits: W twice more, each from the same start.
  const OpTensors& d = run.device;
  HostTensor runs[2][3];
  for (auto& r : runs) {
    for (const char* g : {"dw", "ds", "dam", "dar", "dbb"})
      copy_tensor(d[g], to_dtype(gradient_prior(c, g + 1), DType::f32));
    c.backward_weight(d);
    r[0] = download(d["ds"]);
    r[1] = download(d["dar"]);
    r[2] = download(d["dbb"]);
  }
  for (int e = 0; e < 3; ++e) check_close("two runs", runs[0][e], runs[1][e], 0.0, 0.0);
}

}  // namespace

TEST_CASE("hc_coeffs CUDA forward and backward match the f64 CPU oracle", "[cuda][hc]") {
  for (const std::int64_t n : {1, 4})
    for (const std::int64_t C : {8, 64, 257})
      for (const std::int64_t N : {1, 37, 300}) check_hc(N, n, C);
  check_hc(9000, 4, 8);  // more tokens than 256 chunks of 32: longer chunks
}

TEST_CASE("hc_coeffs on CUDA wants f32 tensors on one device", "[cuda][hc]") {
  const std::int64_t N = 3, n = 2, C = 8;
  const HostTensor host_w = random_f32(Shape{C, n + 2}, "cuda.hc.err.w"), host_bb = random_f32(Shape{n}, "bb");
  Arena arena = device_arena(65536);
  const auto dev = [&](Shape shape, const char* what) { return upload(arena, random_f32(shape, what), what); };
  const Tensor xb = dev(Shape{N, n, C}, "xb"), w = dev(Shape{C, n + 2}, "w"), s = dev(Shape{2}, "s");
  const Tensor am = dev(Shape{n}, "am"), ar = dev(Shape{n, n}, "ar"), bb = dev(Shape{n}, "bb");
  const Tensor h_pre = dev(Shape{N, n}, "h_pre"), h_post = dev(Shape{N, n}, "h_post");
  const Tensor h_res = dev(Shape{N, n, n}, "h_res"), proj = dev(Shape{N, n, n + 2}, "proj");
  CHECK_THROWS_AS(ops::hc_coeffs_forward(h_pre, h_post, h_res, proj, xb, host_w, s, am, ar, bb), ShapeError);
  CHECK_THROWS_AS(ops::hc_coeffs_forward(h_pre, h_post, h_res, proj, xb, w, s, am, ar, host_bb), ShapeError);
  const Tensor xb64 = arena.alloc(DType::f64, Shape{N, n, C}, "xb64");
  CHECK_THROWS_AS(ops::hc_coeffs_forward(h_pre, h_post, h_res, proj, xb64, w, s, am, ar, bb), ShapeError);
  CHECK_THROWS_AS(ops::hc_init_parameters(w, s, am, ar, bb, 0), ShapeError);  // the init is CPU-only
}
