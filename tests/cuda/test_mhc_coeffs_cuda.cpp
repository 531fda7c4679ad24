// [cuda] mHC coefficient kernels (fused projection + sum of squares, gates with Sinkhorn, split backward) vs the CPU
// oracle (fp32 both), through the ops::mhc_coeffs_* entry points.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>

#include "cuda/device_support.hpp"
#include "cuda/sum_tolerance.hpp"
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

void check_forward_random(std::int64_t N, std::int64_t n, std::int64_t C) {
  const std::string tag = shape_tag(N, n, C);
  INFO(tag);
  const Layer l = make_layer(N, n, C, false);
  const HostCoeffs ref(l);
  run_forward(ref.view(), l.x, l.phi, l.alpha, l.bias);

  Arena arena = device_arena(3 * layer_bytes(l));
  const Tensor x = upload(arena, l.x, "x"), phi = upload(arena, l.phi, "phi");
  const Coeffs o = device_outputs(arena, l);
  run_forward(o, x, phi, upload(arena, l.alpha, "alpha"), upload(arena, l.bias, "bias"));

  const std::int64_t D = n * C;
  HostTensor abs_sum(DType::f64, Shape{N, l.K});
  for (std::int64_t t = 0; t < N; ++t)
    for (std::int64_t k = 0; k < l.K; ++k) {
      double s = 0;
      for (std::int64_t c = 0; c < D; ++c) s += std::fabs(l.x.get(t * D + c) * l.phi.get(c * l.K + k));
      abs_sum.set(t * l.K + k, s);
    }
  check_sum_close("proj (" + tag + ")", download(o.proj), ref.proj, abs_sum, static_cast<double>(D));
  // rstd = (ss / D + eps)^(-1/2) of a sum of D positive terms: half the relative error of ss, plus 3 roundings.
  check_close("rstd (" + tag + ")", download(o.rstd), ref.rstd, 0.0,
              0.5 * sum_tolerance(1.0, static_cast<double>(D)) + 4e-7);
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

TEST_CASE("mhc_coeffs projection kernel matches the CPU oracle on random inputs", "[cuda]") {
  check_forward_random(200, 4, 300);
  check_forward_random(100, 8, 100);
  check_forward_random(70, 3, 33);
  check_forward_random(129, 1, 2048);
}

namespace {

// A layer with its CPU forward (h_pre, h_post, proj, rstd: the saved values both backward paths read) and random
// upstream gradients, initial accumulators and dtilde (for W on its own).
struct BackwardCase {
  Layer l;
  HostCoeffs fwd;
  HostTensor dh_pre, dh_post, dres, dx0, dtilde, dphi0, dalpha0, dbias0;
  BackwardCase(std::int64_t N, std::int64_t n, std::int64_t C)
      : l(make_layer(N, n, C, false)),
        fwd(l),
        dh_pre(to_dtype(random_tensor(Shape{N, n}, "cuda.mhcb.dhpre"), DType::f32)),
        dh_post(to_dtype(random_tensor(Shape{N, n}, "cuda.mhcb.dhpost"), DType::f32)),
        dres(to_dtype(random_tensor(Shape{N, n, n}, "cuda.mhcb.dres"), DType::f32)),
        dx0(to_dtype(random_tensor(Shape{N, n, C}, "cuda.mhcb.dx"), DType::f32)),
        dtilde(to_dtype(random_tensor(Shape{N, n * n + 2 * n}, "cuda.mhcb.dtilde"), DType::f32)),
        dphi0(to_dtype(random_tensor(Shape{n * C, n * n + 2 * n}, "cuda.mhcb.dphi"), DType::f32)),
        dalpha0(to_dtype(random_tensor(Shape{3}, "cuda.mhcb.dalpha"), DType::f32)),
        dbias0(to_dtype(random_tensor(Shape{n * n + 2 * n}, "cuda.mhcb.dbias"), DType::f32)) {
    run_forward(fwd.view(), l.x, l.phi, l.alpha, l.bias);
  }
  // alpha of column k; dproj = scale * dtilde * rstd in double (for the tolerances).
  double scale(std::int64_t k) const { return l.alpha.get(k < l.n ? 0 : (k < 2 * l.n ? 1 : 2)); }
  double dproj(const HostTensor& dt, std::int64_t t, std::int64_t k) const {
    return scale(k) * dt.get(t * l.K + k) * fwd.rstd.get(t);
  }
};

void check_backward_input(std::int64_t N, std::int64_t n, std::int64_t C) {
  const std::string tag = shape_tag(N, n, C);
  INFO(tag);
  const BackwardCase b(N, n, C);
  const Layer& l = b.l;
  const HostTensor dx_ref(DType::f32, Shape{N, n, C}), coef_ref(DType::f32, Shape{N});
  const HostTensor dtilde_ref(DType::f32, Shape{N, l.K});
  ops::mhc_coeffs_backward_input(dx_ref, coef_ref, dtilde_ref, b.dh_pre, b.dh_post, b.dres, l.phi, l.alpha,
                                 b.fwd.h_pre, b.fwd.h_post, b.fwd.proj, b.fwd.rstd);

  Arena arena = device_arena(3 * layer_bytes(l));
  const auto up = [&](const HostTensor& h, const char* what) { return upload(arena, h, what); };
  const Tensor dx = up(nan_tensor(DType::f32, Shape{N, n, C}), "dx");
  const Tensor x_coef = up(nan_tensor(DType::f32, Shape{N}), "x_coef");
  const Tensor dtilde = up(nan_tensor(DType::f32, Shape{N, l.K}), "dtilde");
  ops::mhc_coeffs_backward_input(dx, x_coef, dtilde, up(b.dh_pre, "dh_pre"), up(b.dh_post, "dh_post"),
                                 up(b.dres, "dres"), up(l.phi, "phi"), up(l.alpha, "alpha"), up(b.fwd.h_pre, "h_pre"),
                                 up(b.fwd.h_post, "h_post"), up(b.fwd.proj, "proj"), up(b.fwd.rstd, "rstd"));
  // dtilde and x_coef: the oracle's products and sums in its order, explicitly rounded: bitwise equal.
  check_close("dtilde (" + tag + ")", download(dtilde), dtilde_ref, 0.0, 0.0);
  check_close("x_coef (" + tag + ")", download(x_coef), coef_ref, 0.0, 0.0);
  // dx = sum_k dproj_k phi[d, k]: K terms, summed in another order than the CPU's GEMM.
  const std::int64_t D = n * C;
  HostTensor abs_sum(DType::f64, Shape{N, n, C});
  for (std::int64_t t = 0; t < N; ++t) {
    for (std::int64_t c = 0; c < D; ++c) {
      double sum = 0;
      for (std::int64_t k = 0; k < l.K; ++k) sum += std::fabs(b.dproj(dtilde_ref, t, k) * l.phi.get(c * l.K + k));
      abs_sum.set(t * D + c, sum);
    }
  }
  check_sum_close("dx (" + tag + ")", download(dx), dx_ref, abs_sum, static_cast<double>(l.K));
}

void check_backward_weight(std::int64_t N, std::int64_t n, std::int64_t C) {
  const std::string tag = shape_tag(N, n, C);
  INFO(tag);
  const BackwardCase b(N, n, C);
  const Layer& l = b.l;
  const HostTensor dphi_ref = to_dtype(b.dphi0, DType::f32), dalpha_ref = to_dtype(b.dalpha0, DType::f32);
  const HostTensor dbias_ref = to_dtype(b.dbias0, DType::f32);
  ops::mhc_coeffs_backward_weight(dphi_ref, dalpha_ref, dbias_ref, b.dtilde, l.x, b.fwd.proj, b.fwd.rstd, l.alpha);

  Arena arena = device_arena(3 * layer_bytes(l) + 4 * b.dphi0.numel() * 4);
  const auto up = [&](const HostTensor& h, const char* what) { return upload(arena, h, what); };
  const Tensor dphi = up(b.dphi0, "dphi"), dalpha = up(b.dalpha0, "dalpha"), dbias = up(b.dbias0, "dbias");
  const Tensor dtilde = up(b.dtilde, "dtilde"), x = up(l.x, "x"), proj = up(b.fwd.proj, "proj");
  const Tensor rstd = up(b.fwd.rstd, "rstd"), alpha = up(l.alpha, "alpha");
  ops::mhc_coeffs_backward_weight(dphi, dalpha, dbias, dtilde, x, proj, rstd, alpha);

  // Sums over the N tokens (and the initial value), in slices on the GPU.
  const std::int64_t D = n * C, K = l.K;
  HostTensor abs_phi(DType::f64, Shape{D, K}), abs_alpha(DType::f64, Shape{3}), abs_bias(DType::f64, Shape{K});
  for (std::int64_t e = 0; e < D * K; ++e) abs_phi.set(e, std::fabs(b.dphi0.get(e)));
  for (int a = 0; a < 3; ++a) abs_alpha.set(a, std::fabs(b.dalpha0.get(a)));
  for (std::int64_t k = 0; k < K; ++k) abs_bias.set(k, std::fabs(b.dbias0.get(k)));
  for (std::int64_t t = 0; t < N; ++t)
    for (std::int64_t k = 0; k < K; ++k) {
      const double g = b.dtilde.get(t * K + k), dp = std::fabs(b.dproj(b.dtilde, t, k));
      const double z = b.fwd.proj.get(t * K + k) * b.fwd.rstd.get(t);
      const int blk = k < n ? 0 : (k < 2 * n ? 1 : 2);
      abs_alpha.set(blk, abs_alpha.get(blk) + std::fabs(g * z));
      abs_bias.set(k, abs_bias.get(k) + std::fabs(g));
      for (std::int64_t c = 0; c < D; ++c)
        abs_phi.set(c * K + k, abs_phi.get(c * K + k) + std::fabs(l.x.get(t * D + c)) * dp);
    }
  check_sum_close("dphi (" + tag + ")", download(dphi), dphi_ref, abs_phi, static_cast<double>(N + 1));
  check_sum_close("dbias (" + tag + ")", download(dbias), dbias_ref, abs_bias, static_cast<double>(N + 1));
  check_sum_close("dalpha (" + tag + ")", download(dalpha), dalpha_ref, abs_alpha, static_cast<double>(N * n * n + 1));
}

}  // namespace

TEST_CASE("mhc_coeffs_backward_input kernels match the CPU oracle", "[cuda]") {
  for (const std::int64_t n : {1, 2, 3, 4, 8})
    for (const std::int64_t C : {1, 7, 64, 300})
      for (const std::int64_t N : {1, 37, 200}) check_backward_input(N, n, C);
  check_backward_input(1000, 4, 512);
}

TEST_CASE("mhc_coeffs_backward_weight kernels match the CPU oracle", "[cuda]") {
  for (const std::int64_t n : {1, 2, 3, 4, 8})
    for (const std::int64_t C : {1, 7, 64, 200})
      for (const std::int64_t N : {1, 37, 1000}) check_backward_weight(N, n, C);
  check_backward_weight(40000, 4, 16);  // 625 token slices
  check_backward_weight(5000, 4, 512);  // 8 column blocks x 79 slices
}

TEST_CASE("mhc_coeffs backward kernels are deterministic", "[cuda]") {
  const BackwardCase b(3000, 4, 96);
  const Layer& l = b.l;
  Arena arena = device_arena(8 * layer_bytes(l));
  const auto up = [&](const HostTensor& h, const char* what) { return upload(arena, h, what); };
  const Tensor x = up(l.x, "x"), phi = up(l.phi, "phi"), alpha = up(l.alpha, "alpha"), proj = up(b.fwd.proj, "proj");
  const Tensor rstd = up(b.fwd.rstd, "rstd"), dtilde = up(b.dtilde, "dtilde");
  const Tensor h_pre = up(b.fwd.h_pre, "h_pre"), h_post = up(b.fwd.h_post, "h_post");
  const Tensor dh_pre = up(b.dh_pre, "dh_pre"), dh_post = up(b.dh_post, "dh_post"), dres = up(b.dres, "dres");
  HostTensor results[2][4];
  for (auto& r : results) {
    const Tensor dx = up(b.dx0, "dx"), dt = up(b.dtilde, "dt"), dphi = up(b.dphi0, "dphi");
    const Tensor dalpha = up(b.dalpha0, "dalpha"), dbias = up(b.dbias0, "dbias"), x_coef = up(b.fwd.rstd, "x_coef");
    ops::mhc_coeffs_backward_input(dx, x_coef, dt, dh_pre, dh_post, dres, phi, alpha, h_pre, h_post, proj, rstd);
    ops::mhc_coeffs_backward_weight(dphi, dalpha, dbias, dtilde, x, proj, rstd, alpha);
    r[0] = download(dx);
    r[1] = download(dphi);
    r[2] = download(dalpha);
    r[3] = download(dbias);
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
