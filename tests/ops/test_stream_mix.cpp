// Tests of the stream mixing ops: gradients vs finite differences (the one-pass x gradient too), a hand-computed
// 2-stream example that pins the convention (H_res x)[i] = sum_j H_res[i, j] x[j], proof that H_res really mixes,
// f32 vs f64, errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "core/host_tensor.hpp"
#include "core/rng.hpp"
#include "ops/cases/stream_mix.hpp"
#include "ops/sinkhorn.hpp"
#include "ops/stream_mix.hpp"
#include "support/gradcheck.hpp"
#include "support/mhc_inputs.hpp"

using namespace mhc;
using mhc::test::check_gradient;
using mhc::test::dot;
using mhc::test::identity_logits;
using mhc::test::like;
using mhc::test::max_abs_diff;
using mhc::test::random_tensor;
using mhc::test::to_dtype;

namespace {

// a - b element-wise, as a new f64 tensor.
HostTensor minus(const HostTensor& a, const HostTensor& b) {
  HostTensor out = like(a);
  for (std::int64_t k = 0; k < a.numel(); ++k) out.set(k, a.get(k) - b.get(k));
  return out;
}

HostTensor filled(Shape shape, double value) {
  HostTensor t(DType::f64, shape);
  fill_constant(t, value);
  return t;
}

}  // namespace

TEST_CASE("stream_pre_apply backward matches finite differences", "[cpu][mhc]") {
  mhc::test::check_op_gradients(mhc::test::stream_pre_apply_case(3, 4, 5));
}

TEST_CASE("stream_post_res backward matches finite differences", "[cpu][mhc]") {
  mhc::test::check_op_gradients(mhc::test::stream_post_res_case(3, 4, 5));
}

TEST_CASE("stream_mix_backward is the x gradient of post + res and the pre-apply", "[cpu][mhc]") {
  for (const std::int64_t n : {4, 3}) mhc::test::check_op_gradients(mhc::test::stream_mix_case(3, n, 21));
}

TEST_CASE("stream_mix_backward adds the x gradient of post+res, the pre-apply and an x_coef-weighted square",
          "[cpu][mhc]") {
  // L(x) = <dx_out, post_res(x)> + <du, pre_apply(x)> + sum_t x_coef[t] |x_t|^2 / 2, so dL/dx[j] =
  // sum_i h_res[i, j] dx_out[i] + h_pre[j] du + x_coef x[j]: exactly what stream_mix_backward adds to dx.
  for (const std::int64_t n : {4, 3}) {  // compile-time and runtime stream counts
    INFO("n = " << n);
    const std::int64_t N = 3, C = 21;    // C: one whole vector group and a tail
    const HostTensor x = random_tensor(Shape{N, n, C}, "mix.x"), y = random_tensor(Shape{N, C}, "mix.y");
    const HostTensor h_res = random_tensor(Shape{N, n, n}, "mix.hres"), h_post = random_tensor(Shape{N, n}, "mix.hp");
    const HostTensor h_pre = random_tensor(Shape{N, n}, "mix.hpre"), x_coef = random_tensor(Shape{N}, "mix.coef");
    const HostTensor dx_out = random_tensor(Shape{N, n, C}, "mix.dxo"), du = random_tensor(Shape{N, C}, "mix.du");
    const HostTensor x_out = like(x), u = like(du);
    const HostTensor dx0 = random_tensor(Shape{N, n, C}, "mix.dx0");
    for (const bool x_term : {true, false}) {
      INFO((x_term ? "with" : "without") << " the x term");
      const HostTensor dx = to_dtype(dx0, DType::f64);
      ops::stream_mix_backward(dx, dx_out, du, h_res, h_pre, x, x_term ? x_coef.view() : Tensor());
      check_gradient("x (accumulated)", x, minus(dx, dx0), [&] {
        ops::stream_post_res_forward(x_out, x, y, h_res, h_post);
        ops::stream_pre_apply_forward(u, x, h_pre);
        double square = 0;
        for (std::int64_t t = 0; t < N && x_term; ++t)
          for (std::int64_t k = t * n * C; k < (t + 1) * n * C; ++k) square += x_coef.get(t) * x.get(k) * x.get(k) / 2;
        return dot(dx_out, x_out) + dot(du, u) + square;
      });
    }
  }
}

TEST_CASE("stream_post_res 2-stream hand example: (H_res x)[i] = sum_j H_res[i, j] x[j]", "[cpu][mhc]") {
  // One token, n = 2 streams of C = 2 channels. Row i of H_res weights the inputs of output stream i.
  HostTensor x(DType::f64, Shape{1, 2, 2}), y(DType::f64, Shape{1, 2});
  HostTensor h_res(DType::f64, Shape{1, 2, 2}), h_post(DType::f64, Shape{1, 2});
  const double xv[] = {1, 2, /* stream 1 */ 3, 4}, yv[] = {10, 20};
  const double hr[] = {0.75, 0.25, /* row 1 */ 0.5, 0.5}, hp[] = {1.5, 0.5};
  for (int k = 0; k < 4; ++k) {
    x.set(k, xv[k]);
    h_res.set(k, hr[k]);
  }
  for (int k = 0; k < 2; ++k) {
    y.set(k, yv[k]);
    h_post.set(k, hp[k]);
  }
  HostTensor x_out(DType::f64, Shape{1, 2, 2});
  ops::stream_post_res_forward(x_out, x, y, h_res, h_post);
  // out[0] = 0.75 (1, 2) + 0.25 (3, 4) + 1.5 (10, 20) = (1.5, 2.5) + (15, 30)
  // out[1] = 0.5 (1, 2) + 0.5 (3, 4) + 0.5 (10, 20)   = (2, 3) + (5, 10)
  const double expected[] = {16.5, 32.5, 7, 13};
  for (int k = 0; k < 4; ++k) CHECK(x_out.get(k) == expected[k]);

  // Backward with dx_out = 1 (and du = 0): dx[j] += column sums of H_res, dy = sum_i h_post[i],
  // dh_res[i, j] = sum_c x[j][c], dh_post[i] = sum_c y[c].
  HostTensor dx_out = filled(Shape{1, 2, 2}, 1.0), dx = filled(Shape{1, 2, 2}, 100.0);
  HostTensor dy(DType::f64, Shape{1, 2}), dh_res(DType::f64, Shape{1, 2, 2}), dh_post(DType::f64, Shape{1, 2});
  ops::stream_post_res_backward(dy, dh_res, dh_post, dx_out, x, y, h_post);
  ops::stream_mix_backward(dx, dx_out, filled(Shape{1, 2}, 0.0), h_res, h_post, x, Tensor());
  const double dx_expected[] = {101.25, 101.25, 100.75, 100.75}, dh_res_expected[] = {3, 7, 3, 7};
  for (int k = 0; k < 4; ++k) {
    CHECK(dx.get(k) == dx_expected[k]);
    CHECK(dh_res.get(k) == dh_res_expected[k]);
  }
  for (int k = 0; k < 2; ++k) {
    CHECK(dy.get(k) == 2.0);
    CHECK(dh_post.get(k) == 30.0);
  }
}

TEST_CASE("H_res mixes the streams: its logits change other streams' outputs and get gradient",
          "[cpu][mhc][sinkhorn]") {
  const std::int64_t N = 2, n = 4, C = 6;
  const int iters = 20;
  for (const bool identity : {true, false}) {
    INFO((identity ? "identity bias" : "zero bias"));
    const HostTensor logits =
        identity ? identity_logits(N, n, "mix.logits", 0.02) : random_tensor(Shape{N, n, n}, "mix.logits", 0.02);
    const HostTensor x = random_tensor(Shape{N, n, C}, "mix.x"), y = random_tensor(Shape{N, C}, "mix.y");
    const HostTensor h_post = random_tensor(Shape{N, n}, "mix.hp"), g = random_tensor(Shape{N, n, C}, "mix.g");
    const HostTensor h_res = like(logits), x_out = like(x);
    const auto forward = [&] {
      ops::sinkhorn_forward(h_res, logits, iters);
      ops::stream_post_res_forward(x_out, x, y, h_res, h_post);
    };

    // Raising the logit (i, j) = (0, 1) moves stream 1 into output stream 0: that output changes.
    forward();
    const HostTensor before = to_dtype(x_out, DType::f64);
    const std::int64_t k01 = 0 * n + 1;
    logits.set(k01, logits.get(k01) + 1.0);
    forward();
    logits.set(k01, logits.get(k01) - 1.0);
    double change0 = 0;
    for (std::int64_t c = 0; c < C; ++c) change0 = std::fmax(change0, std::fabs(x_out.get(c) - before.get(c)));
    CHECK(change0 > 1e-3);

    // Gradient of <g, x_out> w.r.t. the logits, through stream_post_res_backward and sinkhorn_backward.
    const HostTensor dy = like(y), dh_res = like(h_res), dh_post = like(h_post), dlogits = like(logits);
    forward();
    ops::stream_post_res_backward(dy, dh_res, dh_post, g, x, y, h_post);
    ops::sinkhorn_backward(dlogits, dh_res, logits, iters);
    for (std::int64_t t = 0; t < N; ++t)
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < n; ++j)
          if (i != j) CHECK(std::fabs(dlogits.get((t * n + i) * n + j)) > 1e-6);
    check_gradient("logits through sinkhorn and post_res", logits, dlogits, [&] {
      forward();
      return dot(g, x_out);
    });
  }
}

TEST_CASE("stream mixing f32 agrees with f64", "[cpu][mhc]") {
  // Sums of <= C = 33 products of N(0, 1) values: f32 rounding stays far below 1e-5 for the O(1) sums of a few terms
  // and 1e-4 for the dot products over C.
  using mhc::test::check_op_f32_vs_f64;
  check_op_f32_vs_f64(mhc::test::stream_pre_apply_case(4, 4, 33), {{"u", 1e-5}, {"dh_pre", 1e-4}});
  check_op_f32_vs_f64(mhc::test::stream_post_res_case(4, 4, 33),
                      {{"x_out", 1e-5}, {"dy", 1e-5}, {"dh_res", 1e-4}, {"dh_post", 1e-4}});
  check_op_f32_vs_f64(mhc::test::stream_mix_case(4, 4, 33), {{"x_out", 1e-5}, {"u", 1e-5}, {"dx", 1e-5}});
}

TEST_CASE("stream mixing rejects bad shapes, dtypes and devices", "[cpu][mhc]") {
  const std::int64_t N = 2, n = 3, C = 4;
  HostTensor x(DType::f64, Shape{N, n, C}), x_out(DType::f64, Shape{N, n, C}), y(DType::f64, Shape{N, C});
  HostTensor h_res(DType::f64, Shape{N, n, n}), h_post(DType::f64, Shape{N, n}), u(DType::f64, Shape{N, C});
  HostTensor dx(DType::f64, Shape{N, n, C}), dh_res(DType::f64, Shape{N, n, n}), dh_post(DType::f64, Shape{N, n});
  HostTensor flat(DType::f64, Shape{N, C}), short_h(DType::f64, Shape{N, n - 1}), f32(DType::f32, Shape{N, C});

  CHECK_THROWS_WITH(ops::stream_pre_apply_forward(u, flat, h_post), Catch::Contains("stream_pre_apply_forward x"));
  CHECK_THROWS_AS(ops::stream_pre_apply_forward(u, flat, h_post), ShapeError);
  CHECK_THROWS_WITH(ops::stream_pre_apply_forward(x, x, h_post), Catch::Contains("stream_pre_apply_forward u"));
  CHECK_THROWS_WITH(ops::stream_pre_apply_forward(u, x, short_h), Catch::Contains("stream_pre_apply_forward h_pre"));
  CHECK_THROWS_WITH(ops::stream_pre_apply_forward(f32, x, h_post), Catch::Contains("same dtype"));
  CHECK_THROWS_WITH(ops::stream_pre_apply_backward(short_h, u, x), Catch::Contains("stream_pre_apply_backward dh_pre"));
  CHECK_THROWS_WITH(ops::stream_pre_apply_backward(dh_post, x, x), Catch::Contains("stream_pre_apply_backward du"));
  CHECK_THROWS_WITH(ops::stream_post_res_forward(x_out, x, y, h_post, h_post),
                    Catch::Contains("stream_post_res_forward h_res"));
  CHECK_THROWS_WITH(ops::stream_post_res_forward(x_out, x, x, h_res, h_post),
                    Catch::Contains("stream_post_res_forward y"));
  CHECK_THROWS_WITH(ops::stream_post_res_forward(y, x, y, h_res, h_post),
                    Catch::Contains("stream_post_res_forward x_out"));
  CHECK_THROWS_WITH(ops::stream_post_res_forward(x, x, y, h_res, h_post), Catch::Contains("alias"));
  CHECK_THROWS_WITH(ops::stream_post_res_backward(y, dh_res, short_h, x_out, x, y, h_post),
                    Catch::Contains("stream_post_res_backward dh_post"));
  CHECK_THROWS_WITH(ops::stream_post_res_backward(y, h_post, dh_post, x_out, x, y, h_post),
                    Catch::Contains("stream_post_res_backward dh_res"));
  CHECK_THROWS_WITH(ops::stream_post_res_backward(y, dh_res, dh_post, y, x, y, h_post),
                    Catch::Contains("stream_post_res_backward dx_out"));
  HostTensor x_coef(DType::f64, Shape{N});
  CHECK_THROWS_WITH(ops::stream_mix_backward(dx, x_out, u, h_res, h_post, x, h_post),
                    Catch::Contains("stream_mix_backward x_coef"));
  CHECK_THROWS_WITH(ops::stream_mix_backward(dx, x_out, u, h_post, h_post, x, x_coef),
                    Catch::Contains("stream_mix_backward h_res"));
  CHECK_THROWS_WITH(ops::stream_mix_backward(dx, x_out, x, h_res, h_post, x, x_coef),
                    Catch::Contains("stream_mix_backward du"));
  CHECK_THROWS_WITH(ops::stream_mix_backward(dx, dx, u, h_res, h_post, x, x_coef), Catch::Contains("alias"));

  // GPU tensors (never dereferenced): ops without a kernel refuse them; a CPU-only build refuses them all.
  const auto gpu = [](const HostTensor& t) { return Tensor(t.view().data, DType::f32, t.view().shape, Device::cuda); };
  CHECK_THROWS_AS(ops::stream_pre_apply_forward(gpu(u), gpu(x), gpu(h_post)), DeviceError);
  CHECK_THROWS_WITH(ops::stream_pre_apply_forward(gpu(u), gpu(x), gpu(h_post)),
                    Catch::Contains("stream_pre_apply_forward"));
  CHECK_THROWS_AS(ops::stream_post_res_backward(gpu(y), gpu(dh_res), gpu(dh_post), gpu(x_out), gpu(x), gpu(y),
                                                gpu(h_post)),
                  DeviceError);
  CHECK_THROWS_WITH(ops::stream_post_res_forward(gpu(x_out), gpu(x), y, gpu(h_res), gpu(h_post)),
                    Catch::Contains("stream_post_res_forward y"));
#ifndef MHC_HAVE_CUDA
  CHECK_THROWS_AS(ops::stream_post_res_forward(gpu(x_out), gpu(x), gpu(y), gpu(h_res), gpu(h_post)), DeviceError);
  CHECK_THROWS_WITH(ops::stream_post_res_forward(gpu(x_out), gpu(x), gpu(y), gpu(h_res), gpu(h_post)),
                    Catch::Contains("stream_post_res_forward"));
#endif
}
