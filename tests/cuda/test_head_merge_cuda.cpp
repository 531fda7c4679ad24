// [cuda] stream merges before the final norm (plain sum; gate with its GEMMs through ops::matmul and the rest in
// kernels/head_merge.cu) vs the CPU oracle run in f64 on the same f32 inputs: the harness's cases (ops/cases/) with
// per-element bounds derived from the oracle's tensors.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
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

// proj = vec(x) phi: D = n C products per element in fp32 (cuBLAS order): the sum tolerance of sum_tolerance.hpp.
HostTensor gate_proj_bound(const OpHostTensors& o, std::int64_t N, std::int64_t n, std::int64_t C) {
  const std::int64_t D = n * C;
  const HostTensor &x = o.owned.at("x"), &phi = o.owned.at("phi");
  HostTensor tol(DType::f64, Shape{N, n});
  for (std::int64_t t = 0; t < N; ++t)
    for (std::int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (std::int64_t d = 0; d < D; ++d) s += std::fabs(x.get(t * D + d) * phi.get(d * n + i));
      tol.set(t * n + i, sum_tolerance(s, static_cast<double>(D)));
    }
  return tol;
}

// w = sigmoid(alpha proj rstd + bias) + eps: the sigmoid's slope is <= 1/4, so the logit's error (the proj error
// times |alpha| rstd, plus the roundings of alpha (proj rstd) + bias and of rstd: 4 u of their magnitudes) passes on
// quartered; expf (<= 2 ulp), the sum, the division and + eps add <= 8 u (w < 1.01).
HostTensor gate_w_bound(const OpHostTensors& o, std::int64_t N, std::int64_t n, std::int64_t C) {
  const HostTensor tol_proj = gate_proj_bound(o, N, n, C);
  const HostTensor &proj = o.owned.at("proj"), &rstd = o.owned.at("rstd"), &bias = o.owned.at("bias");
  const double a = o.owned.at("alpha").get(0);
  HostTensor tol(DType::f64, Shape{N, n});
  for (std::int64_t t = 0; t < N; ++t)
    for (std::int64_t i = 0; i < n; ++i) {
      const double r = rstd.get(t), logit_abs = std::fabs(a * proj.get(t * n + i) * r) + std::fabs(bias.get(i));
      tol.set(t * n + i, 0.25 * (std::fabs(a) * r * tol_proj.get(t * n + i) + 4 * kU * logit_abs) + 8 * kU);
    }
  return tol;
}

// y = sum_i w_i x_i: the w errors times |x_i|, plus n products and n - 1 sums in f32 (the sum tolerance).
HostTensor gate_y_bound(const OpHostTensors& o, std::int64_t N, std::int64_t n, std::int64_t C) {
  const HostTensor tol_w = gate_w_bound(o, N, n, C);
  const HostTensor &x = o.owned.at("x"), &w = o.owned.at("w");
  HostTensor tol(DType::f64, Shape{N, C});
  for (std::int64_t t = 0; t < N; ++t)
    for (std::int64_t c = 0; c < C; ++c) {
      double from_w = 0, abs_terms = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        const double xv = std::fabs(x.get((t * n + i) * C + c));
        from_w += tol_w.get(t * n + i) * xv;
        abs_terms += w.get(t * n + i) * xv;
      }
      tol.set(t * C + c, from_w + sum_tolerance(abs_terms, static_cast<double>(n)));
    }
  return tol;
}

// dx = (w_i dy + coef x, in double, rounded once) + sum_i dproj_i phi (n products in f32, dproj rounded once): the
// sum tolerance of n + 2 terms over their absolute values (the saved w, proj, rstd: the oracle's, rounded to f32).
HostTensor gate_dx_bound(const OpHostTensors& o, std::int64_t N, std::int64_t n, std::int64_t C) {
  const std::int64_t D = n * C;
  const HostTensor &x = o.owned.at("x"), &phi = o.owned.at("phi"), &w = o.owned.at("w"), &dy = o.owned.at("dy");
  const HostTensor &proj = o.owned.at("proj"), &rstd = o.owned.at("rstd"), &dlogit = o.owned.at("dlogit");
  const double a = o.owned.at("alpha").get(0);
  HostTensor tol(DType::f64, Shape{N, n, C});
  for (std::int64_t t = 0; t < N; ++t) {
    const double r = rstd.get(t);
    double drstd = 0;
    for (std::int64_t i = 0; i < n; ++i) drstd += std::fabs(a * dlogit.get(t * n + i) * proj.get(t * n + i));
    const double coef = drstd * r * r * r / static_cast<double>(D);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t c = 0; c < C; ++c) {
        const std::int64_t e = (t * n + i) * C + c;
        double s = std::fabs(w.get(t * n + i) * dy.get(t * C + c)) + coef * std::fabs(x.get(e));
        for (std::int64_t j = 0; j < n; ++j)
          s += std::fabs(a * dlogit.get(t * n + j) * r * phi.get((i * C + c) * n + j));
        tol.set(e, sum_tolerance(s, static_cast<double>(n + 2)));
      }
  }
  return tol;
}

// W: sums over the tokens onto the prior, from the oracle's dlogit rounded to f32; dproj = (alpha g) rstd carries
// 2 roundings per term, within the sum tolerance of |prior| + sum |terms|.
OpTolerance gate_weight_bound(const OpCase& gate, std::int64_t N, std::int64_t n, std::int64_t C,
                              const std::string& grad) {
  return OpTolerance([=](const OpHostTensors& o) {
    const std::int64_t D = n * C;
    const HostTensor &x = o.owned.at("x"), &proj = o.owned.at("proj"), &rstd = o.owned.at("rstd");
    const HostTensor& dlogit = o.owned.at("dlogit");
    const double a = o.owned.at("alpha").get(0);
    HostTensor abs = gradient_prior(gate, grad.substr(1));
    for (std::int64_t k = 0; k < abs.numel(); ++k) abs.set(k, std::fabs(abs.get(k)));
    for (std::int64_t t = 0; t < N; ++t)
      for (std::int64_t i = 0; i < n; ++i) {
        const double g = dlogit.get(t * n + i), r = rstd.get(t);
        if (grad == "dbias") abs.set(i, abs.get(i) + std::fabs(g));
        if (grad == "dalpha") abs.set(0, abs.get(0) + std::fabs(g * proj.get(t * n + i) * r));
        if (grad == "dphi")
          for (std::int64_t d = 0; d < D; ++d)
            abs.set(d * n + i, abs.get(d * n + i) + std::fabs(x.get(t * D + d) * a * g * r));
      }
    const double terms = grad == "dalpha" ? static_cast<double>(N * n + 1) : static_cast<double>(N + 1);
    HostTensor tol(DType::f64, abs.view().shape);
    for (std::int64_t k = 0; k < tol.numel(); ++k) tol.set(k, sum_tolerance(abs.get(k), terms));
    return tol;
  });
}

void check_gate(std::int64_t N, std::int64_t n, std::int64_t C) {
  const OpCase c = head_merge_gate_case(N, n, C, 1.0 / std::sqrt(static_cast<double>(n * C)));
  INFO(c.op);
  const auto bound = [=](HostTensor (*f)(const OpHostTensors&, std::int64_t, std::int64_t, std::int64_t)) {
    return OpTolerance([=](const OpHostTensors& o) { return f(o, N, n, C); });
  };
  std::map<std::string, OpTolerance> tolerance{
      {"proj", bound(gate_proj_bound)},
      // rstd: the sum of squares in double, rounded once to f32 (the oracle's f64 value differs by ~1e-16): 1 ulp.
      {"rstd", {0.0, 2 * kU}},
      {"w", bound(gate_w_bound)},
      {"y", bound(gate_y_bound)},
      // dlogit: the dot in double, the rest in double, rounded once to f32 (1 ulp); the atol covers dots that
      // cancel (the double error is ~1e-16 of sum |dy x|, at most ~1e-12 here).
      {"dlogit", {1e-10, 2 * kU}},
      {"dx", bound(gate_dx_bound)}};
  for (const char* g : {"dphi", "dalpha", "dbias"}) tolerance.emplace(g, gate_weight_bound(c, N, n, C, g));
  const CudaOpRun run = check_op_cuda(c, DType::f64, tolerance);

  // The token sums repeat their bits: W twice more, each from the same start.
  const OpTensors& d = run.device;
  HostTensor runs[2][2];
  for (auto& r : runs) {
    for (const char* g : {"dphi", "dalpha", "dbias"})
      copy_tensor(d[g], to_dtype(gradient_prior(c, g + 1), DType::f32));
    c.backward_weight(d);
    r[0] = download(d["dalpha"]);
    r[1] = download(d["dbias"]);
  }
  for (int e = 0; e < 2; ++e) check_close("two runs", runs[0][e], runs[1][e], 0.0, 0.0);
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
  const std::int64_t N = 3, n = 2, C = 8;
  const HostTensor host_phi = random_f32(Shape{n * C, n}, "cuda.gate.err.phi"), host_bias = random_f32(Shape{n}, "b");
  const HostTensor host_y(DType::f32, Shape{N, C});
  Arena arena = device_arena(65536);
  const auto dev = [&](Shape shape, const char* what) { return upload(arena, random_f32(shape, what), what); };
  const Tensor x = dev(Shape{N, n, C}, "x"), phi = dev(Shape{n * C, n}, "phi"), alpha = dev(Shape{1}, "alpha");
  const Tensor bias = dev(Shape{n}, "bias"), y = dev(Shape{N, C}, "y"), w = dev(Shape{N, n}, "w");
  const Tensor proj = dev(Shape{N, n}, "proj"), rstd = dev(Shape{N}, "rstd");
  CHECK_THROWS_AS(ops::head_merge_gate_forward(y, w, proj, rstd, x, host_phi, alpha, bias), ShapeError);
  CHECK_THROWS_AS(ops::head_merge_gate_forward(y, w, proj, rstd, x, phi, alpha, host_bias), ShapeError);
  CHECK_THROWS_AS(ops::stream_sum_forward(host_y, x), ShapeError);
  const Tensor x64 = arena.alloc(DType::f64, Shape{N, n, C}, "x64");
  CHECK_THROWS_AS(ops::stream_sum_forward(y, x64), ShapeError);
}
