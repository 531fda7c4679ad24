// Tests of the fused mHC connection passes (ops/mhc_stream.hpp) against the separate ops they replace: the forward
// bitwise; the backward bitwise except dx, whose last addition may round in another order (bounded below), for a
// runtime n (3) and a compile-time n (4), with a token count and a width that leave partial groups and lanes.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "core/host_tensor.hpp"
#include "ops/mhc_coeffs.hpp"
#include "ops/mhc_stream.hpp"
#include "ops/sinkhorn.hpp"
#include "ops/stream_mix.hpp"
#include "support/gradcheck.hpp"
#include "support/mhc_inputs.hpp"

using namespace mhc;
using mhc::test::max_abs_diff;
using mhc::test::random_tensor;
using mhc::test::to_dtype;

namespace {

constexpr int kIters = 20;

struct Inputs {
  std::int64_t N, n, C, K;
  HostTensor x, phi, alpha, bias, dx_out, du, y;
};

Inputs make_inputs(std::int64_t n, DType dtype) {
  const std::int64_t N = 37, C = 40, K = n * n + 2 * n;
  const std::string tag = "fused" + std::to_string(n);
  HostTensor alpha(DType::f64, Shape{3});
  for (int b = 0; b < 3; ++b) alpha.set(b, 0.5 + 0.25 * b);
  return {N,
          n,
          C,
          K,
          to_dtype(random_tensor(Shape{N, n, C}, tag + ".x"), dtype),
          to_dtype(random_tensor(Shape{n * C, K}, tag + ".phi", 0.2), dtype),
          to_dtype(alpha, dtype),
          to_dtype(random_tensor(Shape{K}, tag + ".bias"), dtype),
          to_dtype(random_tensor(Shape{N, n, C}, tag + ".dxo"), dtype),
          to_dtype(random_tensor(Shape{N, C}, tag + ".du"), dtype),
          to_dtype(random_tensor(Shape{N, C}, tag + ".y"), dtype)};
}

struct Forward {
  HostTensor u, h_pre, h_post, res_logits, h_res, proj, rstd;
};

Forward empty_forward(const Inputs& in, DType dtype) {
  const std::int64_t N = in.N, n = in.n;
  return {HostTensor(dtype, Shape{N, in.C}),   HostTensor(dtype, Shape{N, n}),    HostTensor(dtype, Shape{N, n}),
          HostTensor(dtype, Shape{N, n, n}),   HostTensor(dtype, Shape{N, n, n}), HostTensor(dtype, Shape{N, in.K}),
          HostTensor(dtype, Shape{N})};
}

struct Backward {
  HostTensor dx, x_coef, dtilde, dh_pre, dh_post, dh_res, dres_logits;
};

Backward empty_backward(const Inputs& in, DType dtype) {
  const std::int64_t N = in.N, n = in.n;
  return {HostTensor(dtype, Shape{N, n, in.C}), HostTensor(dtype, Shape{N}),       HostTensor(dtype, Shape{N, in.K}),
          HostTensor(dtype, Shape{N, n}),       HostTensor(dtype, Shape{N, n}),    HostTensor(dtype, Shape{N, n, n}),
          HostTensor(dtype, Shape{N, n, n})};
}

ops::MhcStreamBackward backward_args(const Backward& b, const Inputs& in, const Forward& f) {
  return {b.dx,     b.x_coef, b.dtilde, b.dh_pre,  b.dh_post, b.dh_res, b.dres_logits, in.dx_out, in.du,  in.x,
          in.y,     f.h_pre,  f.h_post, f.h_res,   f.res_logits, f.proj, f.rstd,        in.phi,    in.alpha};
}

}  // namespace

TEST_CASE("mhc_stream_forward equals the coefficient forward then the pre-apply, bitwise", "[cpu][mhc]") {
  for (const DType dtype : {DType::f32, DType::f64}) {
    for (const std::int64_t n : {3, 4}) {
      INFO("n = " << n << (dtype == DType::f32 ? " f32" : " f64"));
      const Inputs in = make_inputs(n, dtype);
      const Forward ref = empty_forward(in, dtype), got = empty_forward(in, dtype);
      ops::mhc_coeffs_sinkhorn_forward(ref.h_pre, ref.h_post, ref.res_logits, ref.h_res, ref.proj, ref.rstd, in.x,
                                       in.phi, in.alpha, in.bias, kIters);
      ops::stream_pre_apply_forward(ref.u, in.x, ref.h_pre);
      ops::mhc_stream_forward({got.u, got.h_pre, got.h_post, got.res_logits, got.h_res, got.proj, got.rstd, in.x,
                               in.phi, in.alpha, in.bias},
                              kIters);
      CHECK(max_abs_diff(got.u, ref.u) == 0.0);
      CHECK(max_abs_diff(got.h_pre, ref.h_pre) == 0.0);
      CHECK(max_abs_diff(got.h_post, ref.h_post) == 0.0);
      CHECK(max_abs_diff(got.res_logits, ref.res_logits) == 0.0);
      CHECK(max_abs_diff(got.h_res, ref.h_res) == 0.0);
      CHECK(max_abs_diff(got.proj, ref.proj) == 0.0);
      CHECK(max_abs_diff(got.rstd, ref.rstd) == 0.0);

      const HostTensor bad_u(dtype, Shape{in.N, in.C + 1});
      CHECK_THROWS_WITH(ops::mhc_stream_forward({bad_u, got.h_pre, got.h_post, got.res_logits, got.h_res, got.proj,
                                                 got.rstd, in.x, in.phi, in.alpha, in.bias},
                                                kIters),
                        Catch::Contains("mhc_stream_forward u"));
    }
  }
}

TEST_CASE("mhc_stream_backward equals the separate backward ops", "[cpu][mhc]") {
  for (const DType dtype : {DType::f32, DType::f64}) {
    for (const std::int64_t n : {3, 4}) {
      INFO("n = " << n << (dtype == DType::f32 ? " f32" : " f64"));
      const Inputs in = make_inputs(n, dtype);
      const Forward f = empty_forward(in, dtype);
      ops::mhc_stream_forward({f.u, f.h_pre, f.h_post, f.res_logits, f.h_res, f.proj, f.rstd, in.x, in.phi, in.alpha,
                               in.bias},
                              kIters);

      const Backward ref = empty_backward(in, dtype);
      const HostTensor dy(dtype, Shape{in.N, in.C});
      ops::stream_post_res_backward(dy, ref.dh_res, ref.dh_post, in.dx_out, in.x, in.y, f.h_post);
      ops::stream_pre_apply_backward(ref.dh_pre, in.du, in.x);
      ops::sinkhorn_backward(ref.dres_logits, ref.dh_res, f.res_logits, kIters);
      ops::mhc_coeffs_backward_input(ref.dx, ref.x_coef, ref.dtilde, ref.dh_pre, ref.dh_post, ref.dres_logits, in.phi,
                                     in.alpha, f.h_pre, f.h_post, f.proj, f.rstd);
      ops::stream_mix_backward(ref.dx, in.dx_out, in.du, f.h_res, f.h_pre, in.x, ref.x_coef);

      const Backward got = empty_backward(in, dtype);
      ops::mhc_stream_backward(backward_args(got, in, f), kIters);
      CHECK(max_abs_diff(got.dh_res, ref.dh_res) == 0.0);
      CHECK(max_abs_diff(got.dh_post, ref.dh_post) == 0.0);
      CHECK(max_abs_diff(got.dh_pre, ref.dh_pre) == 0.0);
      CHECK(max_abs_diff(got.dres_logits, ref.dres_logits) == 0.0);
      CHECK(max_abs_diff(got.dtilde, ref.dtilde) == 0.0);
      CHECK(max_abs_diff(got.x_coef, ref.x_coef) == 0.0);

      // dx = dproj phi^T + s (s: the stream terms, the same bits in both) with dproj = alpha_blk dtilde rstd. Either
      // way each element is G + s summed with at most K + 1 roundings of terms no larger than
      // A = sum_k |dproj_k phi_k| + |s| <= |dx| + 2 sum_k |dproj_k phi_k|, so the two differ by at most 2 (K + 1) u A.
      const double u = dtype == DType::f32 ? std::numeric_limits<float>::epsilon() / 2
                                           : std::numeric_limits<double>::epsilon() / 2;
      const std::int64_t D = in.n * in.C;
      double worst = 0.0;  // the largest |difference| / bound
      for (std::int64_t t = 0; t < in.N; ++t) {
        for (std::int64_t c = 0; c < D; ++c) {
          double products = 0.0;
          for (std::int64_t k = 0; k < in.K; ++k) {
            const double scale = in.alpha.get(k < in.n ? 0 : (k < 2 * in.n ? 1 : 2));
            products += std::abs(scale * got.dtilde.get(t * in.K + k) * f.rstd.get(t) * in.phi.get(c * in.K + k));
          }
          const double a = std::abs(got.dx.get(t * D + c)) + 2.0 * products;
          const double diff = std::abs(got.dx.get(t * D + c) - ref.dx.get(t * D + c));
          worst = std::max(worst, diff / (2.0 * static_cast<double>(in.K + 1) * u * a + 1e-300));
        }
      }
      CHECK(worst <= 1.0);

      ops::MhcStreamBackward bad = backward_args(got, in, f);
      bad.dx = in.dx_out;
      CHECK_THROWS_WITH(ops::mhc_stream_backward(bad, kIters), Catch::Contains("dx must not alias dx_out"));
      const HostTensor bad_dtilde(dtype, Shape{in.N, in.K + 1});
      bad = backward_args(got, in, f);
      bad.dtilde = bad_dtilde;
      CHECK_THROWS_WITH(ops::mhc_stream_backward(bad, kIters), Catch::Contains("mhc_stream_backward dtilde"));
    }
  }
}
