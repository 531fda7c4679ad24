// [cuda] mHC coefficient kernels (fused projection + sum of squares, gates with Sinkhorn, split backward) vs the CPU
// oracle (fp32 both): exact-sum forward checks here, the whole op on random inputs through the harness's case
// (ops/cases/) with per-element bounds derived from the oracle's tensors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "cuda/device_support.hpp"
#include "cuda/sum_tolerance.hpp"
#include "ops/cases/mhc_coeffs.hpp"
#include "ops/mhc_coeffs.hpp"
#include "support/gradcheck.hpp"
#include "support/mhc_inputs.hpp"

using namespace mhc;
using namespace mhc::test;

namespace {

constexpr int kIters = 20;

std::string shape_tag(std::int64_t N, std::int64_t n, std::int64_t C) {
  return "N " + std::to_string(N) + " n " + std::to_string(n) + " C " + std::to_string(C);
}

// f64 values rounded to multiples of 1 / `denominator` within +-limit / denominator, as f32.
HostTensor dyadic(const HostTensor& v, double denominator, double limit) {
  HostTensor out(DType::f32, v.view().shape);
  for (std::int64_t k = 0; k < v.numel(); ++k)
    out.set(k, std::round(std::clamp(v.get(k) * denominator, -limit, limit)) / denominator);
  return out;
}

// One layer's inputs in f32. With `exact`, x holds multiples of 1/8 (|x| <= 2) and phi multiples of 1/64
// (|phi| <= 1/2): every product x phi is a multiple of 2^-9 and every partial sum of D <= 4096 of them (and of the
// squares x^2) fits 24 bits, so the projection and the sum of squares are exact in any summation order.
struct Layer {
  std::int64_t N, n, C, K;
  HostTensor x, phi, alpha, bias;
};

Layer make_layer(std::int64_t N, std::int64_t n, std::int64_t C, bool exact) {
  const std::int64_t K = n * n + 2 * n;
  const HostTensor x = random_tensor(Shape{N, n, C}, "cuda.mhc.x");
  const HostTensor phi = random_tensor(Shape{n * C, K}, "cuda.mhc.phi", 0.3);
  Layer l{N,
          n,
          C,
          K,
          exact ? dyadic(x, 8, 16) : to_dtype(x, DType::f32),
          exact ? dyadic(phi, 64, 32) : to_dtype(phi, DType::f32),
          HostTensor(DType::f32, Shape{3}),
          to_dtype(random_tensor(Shape{K}, "cuda.mhc.bias", 0.5), DType::f32)};
  l.alpha.set(0, 0.8);
  l.alpha.set(1, -0.6);
  l.alpha.set(2, 1.1);
  return l;
}

// The forward outputs, on the host or the device.
struct Coeffs {
  Tensor h_pre, h_post, res_logits, h_res, proj, rstd;
};

struct HostCoeffs {
  HostTensor h_pre, h_post, res_logits, h_res, proj, rstd;
  explicit HostCoeffs(const Layer& l)
      : h_pre(DType::f32, Shape{l.N, l.n}),
        h_post(DType::f32, Shape{l.N, l.n}),
        res_logits(DType::f32, Shape{l.N, l.n, l.n}),
        h_res(DType::f32, Shape{l.N, l.n, l.n}),
        proj(DType::f32, Shape{l.N, l.K}),
        rstd(DType::f32, Shape{l.N}) {}
  Coeffs view() const { return {h_pre, h_post, res_logits, h_res, proj, rstd}; }
};

void run_forward(const Coeffs& o, const Tensor& x, const Tensor& phi, const Tensor& alpha, const Tensor& bias) {
  ops::mhc_coeffs_sinkhorn_forward(o.h_pre, o.h_post, o.res_logits, o.h_res, o.proj, o.rstd, x, phi, alpha, bias,
                                   kIters);
}

// NaN-filled device outputs.
Coeffs device_outputs(Arena& arena, const Layer& l) {
  const auto nan = [&](Shape s, const char* what) { return upload(arena, nan_tensor(DType::f32, s), what); };
  return {nan(Shape{l.N, l.n}, "h_pre"),      nan(Shape{l.N, l.n}, "h_post"), nan(Shape{l.N, l.n, l.n}, "res"),
          nan(Shape{l.N, l.n, l.n}, "h_res"), nan(Shape{l.N, l.K}, "proj"),   nan(Shape{l.N}, "rstd")};
}

std::int64_t layer_bytes(const Layer& l) {
  return 4 * (2 * l.N * l.n * l.C + l.n * l.C * l.K + 2 * (l.N * (l.K + 2 * l.n * l.n + 2 * l.n + 1)) + 3 + l.K);
}

// x on the device `shift` floats past the arena alignment (shift 1 forces the scalar tile loads).
Tensor upload_shifted(Arena& arena, const HostTensor& host, std::int64_t shift) {
  Tensor d = arena.alloc(DType::f32, Shape{host.numel() + shift}, "x");
  d = Tensor(d.ptr<float>() + shift, DType::f32, host.view().shape, Device::cuda);
  copy_tensor(d, host);
  return d;
}

void check_forward_exact(std::int64_t N, std::int64_t n, std::int64_t C, std::int64_t shift = 0) {
  const std::string tag = shape_tag(N, n, C) + " shift " + std::to_string(shift);
  INFO(tag);
  const Layer l = make_layer(N, n, C, true);
  const HostCoeffs ref(l);
  run_forward(ref.view(), l.x, l.phi, l.alpha, l.bias);

  Arena arena = device_arena(3 * layer_bytes(l));
  const Tensor x = upload_shifted(arena, l.x, shift), phi = upload(arena, l.phi, "phi");
  const Tensor alpha = upload(arena, l.alpha, "alpha"), bias = upload(arena, l.bias, "bias");
  const Coeffs fused = device_outputs(arena, l), plain = device_outputs(arena, l);
  run_forward(fused, x, phi, alpha, bias);
  ops::mhc_coeffs_forward(plain.h_pre, plain.h_post, plain.res_logits, plain.proj, plain.rstd, x, phi, alpha, bias);

  // Exact sums: proj and rstd (IEEE division and square root, as the CPU) and the logits (explicitly rounded
  // alpha * (p * s) + b) are bitwise equal.
  check_close("proj (" + tag + ")", download(fused.proj), ref.proj, 0.0, 0.0);
  check_close("rstd (" + tag + ")", download(fused.rstd), ref.rstd, 0.0, 0.0);
  check_close("res_logits (" + tag + ")", download(fused.res_logits), ref.res_logits, 0.0, 0.0);
  // The gates differ by expf only (<= 2 ulp): sigmoid and 2 sigmoid within a few ulp (2^-23 = 1.2e-7 each).
  check_close("h_pre (" + tag + ")", download(fused.h_pre), ref.h_pre, 0.0, 1e-6);
  check_close("h_post (" + tag + ")", download(fused.h_post), ref.h_post, 0.0, 1e-6);
  // Sinkhorn in registers: the tolerance of the Sinkhorn forward kernel test (same operations).
  check_close("h_res (" + tag + ")", download(fused.h_res), ref.h_res, 1e-6, 1e-5);
  // mhc_coeffs_forward runs the same kernels without Sinkhorn.
  check_close("plain h_pre (" + tag + ")", download(plain.h_pre), download(fused.h_pre), 0.0, 0.0);
  check_close("plain h_post (" + tag + ")", download(plain.h_post), download(fused.h_post), 0.0, 0.0);
  check_close("plain res_logits (" + tag + ")", download(plain.res_logits), ref.res_logits, 0.0, 0.0);
  check_close("plain proj (" + tag + ")", download(plain.proj), ref.proj, 0.0, 0.0);
}

}  // namespace

TEST_CASE("mhc_coeffs forward kernels match the CPU oracle exactly on exact sums", "[cuda]") {
  for (const std::int64_t n : {1, 2, 3, 4, 8})
    for (const std::int64_t C : {1, 5, 64, 130})
      for (const std::int64_t N : {1, 37, 130}) check_forward_exact(N, n, C);
  check_forward_exact(37, 4, 64, 1);  // D % 4 == 0 but x misaligned: scalar tile loads
  check_forward_exact(1000, 4, 256);
  check_forward_exact(300, 8, 256);
}

namespace {

const double kU = std::ldexp(1.0, -24);  // f32 unit roundoff

// alpha of coefficient column k (blocks pre | post | res).
double alpha_of(const OpHostTensors& o, std::int64_t n, std::int64_t k) {
  return o.owned.at("alpha").get(k < n ? 0 : (k < 2 * n ? 1 : 2));
}

// proj = vec(x) phi: D = n C products per element, summed in another order on the GPU (sum_tolerance.hpp).
HostTensor proj_bound(const OpHostTensors& o, std::int64_t N, std::int64_t n, std::int64_t C) {
  const std::int64_t K = n * n + 2 * n, D = n * C;
  const HostTensor &x = o.owned.at("x"), &phi = o.owned.at("phi");
  HostTensor tol(DType::f64, Shape{N, K});
  for (std::int64_t t = 0; t < N; ++t)
    for (std::int64_t k = 0; k < K; ++k) {
      double a = 0;
      for (std::int64_t c = 0; c < D; ++c) a += std::fabs(x.get(t * D + c) * phi.get(c * K + k));
      tol.set(t * K + k, sum_tolerance(a, static_cast<double>(D)));
    }
  return tol;
}

// rstd = (ss / D + eps)^(-1/2) of a sum of D positive terms: half the relative error of ss, plus 3 roundings.
double rstd_rtol(std::int64_t n, std::int64_t C) {
  return 0.5 * sum_tolerance(1.0, static_cast<double>(n * C)) + 4e-7;
}

// The pre-activation alpha z + b, z = proj rstd: the proj and rstd errors times |alpha|, plus the rounding of the
// product, the scaling and the sum (4 u of |alpha z| + |b|). sigmoid is 1/4-Lipschitz (h_pre), 2 sigmoid
// 1/2-Lipschitz (h_post), and expf and the division add a few ulp (8 u of the gate); res_logits are the
// pre-activations themselves. which: 0 h_pre, 1 h_post, 2 res_logits.
OpTolerance gate_bound(std::int64_t N, std::int64_t n, std::int64_t C, int which) {
  return OpTolerance([=](const OpHostTensors& o) {
    const std::int64_t K = n * n + 2 * n;
    const HostTensor tol_proj = proj_bound(o, N, n, C);
    const HostTensor &proj = o.owned.at("proj"), &rstd = o.owned.at("rstd"), &bias = o.owned.at("bias");
    const std::int64_t first = which == 0 ? 0 : (which == 1 ? n : 2 * n), width = which == 2 ? n * n : n;
    const HostTensor& gate = o.owned.at(which == 0 ? "h_pre" : (which == 1 ? "h_post" : "res_logits"));
    HostTensor tol(DType::f64, gate.view().shape);
    for (std::int64_t t = 0; t < N; ++t)
      for (std::int64_t j = 0; j < width; ++j) {
        const std::int64_t k = first + j;
        const double a = std::fabs(alpha_of(o, n, k)), r = rstd.get(t), p = proj.get(t * K + k);
        const double pre = a * (tol_proj.get(t * K + k) * r + std::fabs(p) * r * rstd_rtol(n, C)) +
                           4 * kU * (a * std::fabs(p) * r + std::fabs(bias.get(k)));
        const double lipschitz = which == 0 ? 0.25 : (which == 1 ? 0.5 : 1.0);
        tol.set(t * width + j, lipschitz * pre + (which == 2 ? 0.0 : 8 * kU * std::fabs(gate.get(t * width + j))));
      }
    return tol;
  });
}

// dx = sum_k dproj_k phi[d, k] (K terms in another order than the CPU's GEMM), dproj_k = alpha_k dtilde_k rstd,
// then + x_coef x (one more term): the sum tolerance of K + 1 terms.
OpTolerance dx_bound(std::int64_t N, std::int64_t n, std::int64_t C) {
  return OpTolerance([=](const OpHostTensors& o) {
    const std::int64_t K = n * n + 2 * n, D = n * C;
    const HostTensor &dtilde = o.owned.at("dtilde"), &rstd = o.owned.at("rstd"), &phi = o.owned.at("phi");
    const HostTensor &x = o.owned.at("x"), &x_coef = o.owned.at("x_coef");
    HostTensor tol(DType::f64, Shape{N, n, C});
    for (std::int64_t t = 0; t < N; ++t)
      for (std::int64_t c = 0; c < D; ++c) {
        double a = std::fabs(x_coef.get(t) * x.get(t * D + c));
        for (std::int64_t k = 0; k < K; ++k)
          a += std::fabs(alpha_of(o, n, k) * dtilde.get(t * K + k) * rstd.get(t) * phi.get(c * K + k));
        tol.set(t * D + c, sum_tolerance(a, static_cast<double>(K + 1)));
      }
    return tol;
  });
}

// W: sums over the N tokens onto the prior (in slices on the GPU), from the oracle's dtilde rounded to f32: the
// sum tolerance of |prior| + sum |terms|.
OpTolerance weight_bound(const OpCase& mc, std::int64_t N, std::int64_t n, std::int64_t C, const std::string& grad) {
  return OpTolerance([=](const OpHostTensors& o) {
    const std::int64_t K = n * n + 2 * n, D = n * C;
    const HostTensor &dtilde = o.owned.at("dtilde"), &rstd = o.owned.at("rstd"), &proj = o.owned.at("proj");
    const HostTensor& x = o.owned.at("x");
    HostTensor abs = gradient_prior(mc, grad.substr(1));
    for (std::int64_t k = 0; k < abs.numel(); ++k) abs.set(k, std::fabs(abs.get(k)));
    for (std::int64_t t = 0; t < N; ++t)
      for (std::int64_t k = 0; k < K; ++k) {
        const double g = dtilde.get(t * K + k);
        if (grad == "dbias") abs.set(k, abs.get(k) + std::fabs(g));
        if (grad == "dalpha") {
          const std::int64_t blk = k < n ? 0 : (k < 2 * n ? 1 : 2);
          abs.set(blk, abs.get(blk) + std::fabs(g * proj.get(t * K + k) * rstd.get(t)));
        }
        if (grad == "dphi") {
          const double dp = std::fabs(alpha_of(o, n, k) * g * rstd.get(t));
          for (std::int64_t c = 0; c < D; ++c)
            abs.set(c * K + k, abs.get(c * K + k) + std::fabs(x.get(t * D + c)) * dp);
        }
      }
    const double terms = grad == "dalpha" ? static_cast<double>(N * n * n + 1) : static_cast<double>(N + 1);
    HostTensor tol(DType::f64, abs.view().shape);
    for (std::int64_t k = 0; k < tol.numel(); ++k) tol.set(k, sum_tolerance(abs.get(k), terms));
    return tol;
  });
}

// The whole op on random inputs against the f32 oracle: dtilde and x_coef are the oracle's products and sums in its
// order, explicitly rounded, so they are bitwise equal (the device B reads the oracle's forward outputs).
CudaOpRun check_mhc(std::int64_t N, std::int64_t n, std::int64_t C) {
  const OpCase c = mhc_coeffs_case(N, n, C);
  INFO(c.op);
  std::map<std::string, OpTolerance> tolerance{
      {"proj", OpTolerance([=](const OpHostTensors& o) { return proj_bound(o, N, n, C); })},
      {"rstd", {0.0, rstd_rtol(n, C)}},
      {"h_pre", gate_bound(N, n, C, 0)},
      {"h_post", gate_bound(N, n, C, 1)},
      {"res_logits", gate_bound(N, n, C, 2)},
      {"dtilde", {0.0, 0.0}},
      {"x_coef", {0.0, 0.0}},
      {"dx", dx_bound(N, n, C)}};
  for (const char* g : {"dphi", "dalpha", "dbias"}) tolerance.emplace(g, weight_bound(c, N, n, C, g));
  return check_op_cuda(c, DType::f32, tolerance);
}

}  // namespace

TEST_CASE("mhc_coeffs kernels match the CPU oracle on random inputs, forward, B and W", "[cuda]") {
  for (const std::int64_t n : {1, 2, 3, 4, 8})
    for (const std::int64_t C : {1, 7, 64, 300})
      for (const std::int64_t N : {1, 37, 200}) check_mhc(N, n, C);
  check_mhc(1000, 4, 512);
  check_mhc(129, 1, 2048);
  check_mhc(40000, 4, 16);  // 625 token slices in W
  check_mhc(5000, 4, 512);  // 8 column blocks x 79 slices in W
}

TEST_CASE("mhc_coeffs backward kernels are deterministic", "[cuda]") {
  const OpCase c = mhc_coeffs_case(3000, 4, 96);
  const CudaOpRun run = check_mhc(3000, 4, 96);
  const OpTensors& d = run.device;
  HostTensor results[2][4];
  for (auto& r : results) {
    for (const char* g : {"dphi", "dalpha", "dbias"})
      copy_tensor(d[g], to_dtype(gradient_prior(c, g + 1), DType::f32));
    c.backward(d);
    c.backward_weight(d);
    r[0] = download(d["dx"]);
    r[1] = download(d["dphi"]);
    r[2] = download(d["dalpha"]);
    r[3] = download(d["dbias"]);
  }
  for (int k = 0; k < 4; ++k) check_close("two runs, output " + std::to_string(k), results[0][k], results[1][k], 0, 0);
}

TEST_CASE("mhc_coeffs on CUDA wants f32 tensors on one device", "[cuda]") {
  const Layer l = make_layer(4, 2, 8, false);
  Arena arena = device_arena(4 * layer_bytes(l) + 4096);
  const HostCoeffs host(l);
  Coeffs o = device_outputs(arena, l);
  const Tensor x = upload(arena, l.x, "x"), phi = upload(arena, l.phi, "phi");
  const Tensor alpha = upload(arena, l.alpha, "alpha"), bias = upload(arena, l.bias, "bias");
  CHECK_NOTHROW(run_forward(o, x, phi, alpha, bias));
  CHECK_THROWS_AS(run_forward(o, x, l.phi, alpha, bias), ShapeError);  // phi on the host
  o.h_res = host.h_res;
  CHECK_THROWS_AS(run_forward(o, x, phi, alpha, bias), ShapeError);  // h_res on the host
  const Tensor x64 = arena.alloc(DType::f64, Shape{4, 2, 8}, "x64");
  CHECK_THROWS_AS(ops::mhc_coeffs_forward(o.h_pre, o.h_post, o.res_logits, o.proj, o.rstd, x64, phi, alpha, bias),
                  ShapeError);
}
