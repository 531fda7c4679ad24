// [cuda] Stream mixing kernels (pre-apply and post + res, forward and backward) vs the CPU oracle (fp32 both),
// through the ops::stream_* entry points.
#include <catch2/catch.hpp>

#include <cuda_runtime.h>

#include <string>

#include "core/stream.hpp"
#include "cuda/device_support.hpp"
#include "cuda/sum_tolerance.hpp"
#include "ops/cases/stream_mix.hpp"
#include "ops/stream_mix.hpp"
#include "support/gradcheck.hpp"
#include "support/mhc_inputs.hpp"

using namespace mhc;
using namespace mhc::test;

namespace {

struct PostResInputs {
  HostTensor x, y, h_res, h_post, ref;
};

PostResInputs make_inputs(std::int64_t N, std::int64_t n, std::int64_t C) {
  PostResInputs in{to_dtype(random_tensor(Shape{N, n, C}, "cuda.pr.x"), DType::f32),
                   to_dtype(random_tensor(Shape{N, C}, "cuda.pr.y"), DType::f32),
                   to_dtype(random_tensor(Shape{N, n, n}, "cuda.pr.hres", 0.5), DType::f32),
                   to_dtype(random_tensor(Shape{N, n}, "cuda.pr.hpost"), DType::f32),
                   HostTensor(DType::f32, Shape{N, n, C})};
  ops::stream_post_res_forward(in.ref, in.x, in.y, in.h_res, in.h_post);
  return in;
}

std::int64_t total_bytes(const PostResInputs& in) {
  return 2 * in.x.view().bytes() + in.y.view().bytes() + in.h_res.view().bytes() + in.h_post.view().bytes() +
         4 * kArenaAlignment;
}

std::string shape_tag(std::int64_t N, std::int64_t n, std::int64_t C, std::int64_t shift) {
  return "N " + std::to_string(N) + " n " + std::to_string(n) + " C " + std::to_string(C) + " shift " +
         std::to_string(shift);
}

// Device copies of host tensors, each `shift` floats past the arena's 256-byte alignment (shift 1: scalar path).
struct ShiftedUploads {
  Arena arena;
  std::int64_t shift;
  Tensor operator()(const HostTensor& host, const char* what) {
    Tensor d = arena.alloc(DType::f32, Shape{host.numel() + shift}, what);
    d = Tensor(d.ptr<float>() + shift, DType::f32, host.view().shape, Device::cuda);
    copy_tensor(d, host);
    return d;
  }
};

HostTensor random_f32(Shape shape, const std::string& name, double scale = 1.0) {
  return to_dtype(random_tensor(shape, name, scale), DType::f32);
}

// sum_c |a[row_a, c] * b[row_b, c]| for rows of length C: the size of the terms of one dot product.
double abs_dot(const HostTensor& a, std::int64_t row_a, const HostTensor& b, std::int64_t row_b, std::int64_t C) {
  double s = 0;
  for (std::int64_t c = 0; c < C; ++c) s += std::fabs(a.get(row_a * C + c) * b.get(row_b * C + c));
  return s;
}

// Per-element sum bounds (check_sum_close's) of the coefficient gradients: dot products over C whose terms are
// summed in another order on the GPU. bound(t, i, j) = sum_c |a[row_a] b[row_b]| for the rows of each element.
OpTolerance dot_bound(const char* a, const char* b, bool b_per_stream, std::int64_t n, std::int64_t C,
                      bool square) {
  return OpTolerance([=](const OpHostTensors& o) {
    const HostTensor& A = o.owned.at(a);
    const HostTensor& Bt = o.owned.at(b);
    const std::int64_t N = A.numel() / (n * C), per_token = square ? n * n : n;
    HostTensor tol(DType::f64, Shape{N * per_token});
    for (std::int64_t t = 0; t < N; ++t)
      for (std::int64_t e = 0; e < per_token; ++e) {
        const std::int64_t i = square ? e / n : e, j = square ? e % n : 0;
        const std::int64_t row_b = b_per_stream ? t * n + j : t;
        tol.set(t * per_token + e, sum_tolerance(abs_dot(A, t * n + i, Bt, row_b, C), static_cast<double>(C)));
      }
    return tol;
  });
}

// u: the oracle's products and sums in its order, each explicitly rounded: bitwise equal. dh_pre: dot products over
// C summed in another order.
void check_pre_apply(std::int64_t N, std::int64_t n, std::int64_t C, std::int64_t shift = 0) {
  INFO("shift " << shift);
  check_op_cuda(stream_pre_apply_case(N, n, C), DType::f32,
                {{"u", {0.0, 0.0}}, {"dh_pre", dot_bound("x", "du", false, n, C, false)}}, shift);
}

// x_out: n + 1 fused multiply-adds per output on the GPU vs BLAS on the CPU, a few fp32 roundings of O(1) terms.
// dy: the oracle's order (i ascending) and rounding (explicit, no FMA): bitwise equal. dh_res and dh_post: dot
// products over C summed in another order.
void check_post_res(std::int64_t N, std::int64_t n, std::int64_t C, std::int64_t shift = 0) {
  INFO("shift " << shift);
  check_op_cuda(stream_post_res_case(N, n, C), DType::f32,
                {{"x_out", {1e-5, 1e-5}},
                 {"dy", {0.0, 0.0}},
                 {"dh_res", dot_bound("dx_out", "x", true, n, C, true)},
                 {"dh_post", dot_bound("dx_out", "y", false, n, C, false)}},
                shift);
}

// stream_mix_backward: the oracle's order and explicit rounding, bitwise equal (x_out and u as in the cases above).
void check_mix_backward(std::int64_t N, std::int64_t n, std::int64_t C, std::int64_t shift = 0) {
  INFO("shift " << shift);
  check_op_cuda(stream_mix_case(N, n, C), DType::f32, {{"x_out", {1e-5, 1e-5}}, {"u", {0.0, 0.0}}, {"dx", {0.0, 0.0}}},
                shift);
  // The x_coef term, which no forward op of this family produces (the mhc_coeffs case covers it through the whole
  // x gradient): bitwise too.
  const std::string tag = shape_tag(N, n, C, shift);
  const HostTensor x = random_f32(Shape{N, n, C}, "cuda.mix.x"), g = random_f32(Shape{N, n, C}, "cuda.mix.g");
  const HostTensor du = random_f32(Shape{N, C}, "cuda.mix.du"), dx0 = random_f32(Shape{N, n, C}, "cuda.mix.dx");
  const HostTensor h_res = random_f32(Shape{N, n, n}, "cuda.mix.hres", 0.5);
  const HostTensor h_pre = random_f32(Shape{N, n}, "cuda.mix.hpre"), coef = random_f32(Shape{N}, "cuda.mix.coef");
  const HostTensor dx_ref = to_dtype(dx0, DType::f32);
  ops::stream_mix_backward(dx_ref, g, du, h_res, h_pre, x, coef);
  ShiftedUploads up{device_arena(2 * (4 * x.view().bytes() + 2 * du.view().bytes() + N * (n * n + n + 1) * 4)), shift};
  const Tensor d_dx = up(dx0, "dx");
  ops::stream_mix_backward(d_dx, up(g, "g"), up(du, "du"), up(h_res, "h_res"), up(h_pre, "h_pre"), up(x, "x"),
                           up(coef, "coef"));
  check_close("dx with the x term (" + tag + ")", download(d_dx), dx_ref, 0.0, 0.0);
}

}  // namespace

TEST_CASE("stream_pre_apply kernels match the CPU oracle", "[cuda]") {
  for (const std::int64_t n : {1, 2, 3, 4, 8})
    for (const std::int64_t C : {1, 7, 33, 256, 260, 1030})
      for (const std::int64_t N : {1, 3, 37}) check_pre_apply(N, n, C);
  check_pre_apply(5, 4, 64, 1);  // C % 4 == 0 but misaligned: scalar path
  check_pre_apply(4096, 4, 1024);
  check_pre_apply(300, 4, 2048);  // 2 columns per thread in the backward
}

TEST_CASE("stream_post_res kernels match the CPU oracle", "[cuda]") {
  for (const std::int64_t n : {1, 2, 3, 4, 8})
    for (const std::int64_t C : {1, 7, 33, 256, 260, 1030})
      for (const std::int64_t N : {1, 3, 37}) check_post_res(N, n, C);
  check_post_res(5, 4, 64, 1);   // C % 4 == 0 but misaligned: scalar path
  check_post_res(5, 4, 1024, 2);
  check_post_res(4096, 4, 1024);  // large-ish, float4 path
  check_post_res(4096, 4, 1023);  // large-ish, scalar path
  check_post_res(300, 4, 2048);   // 2 columns per thread in the backward
  check_post_res(64, 8, 3000);    // n = 8, float4, 3 rounds of columns per thread in the backward
}

TEST_CASE("stream_mix_backward kernel matches the CPU oracle", "[cuda]") {
  for (const std::int64_t n : {1, 2, 3, 4, 8})
    for (const std::int64_t C : {1, 7, 33, 256, 260})
      for (const std::int64_t N : {1, 3, 37}) check_mix_backward(N, n, C);
  check_mix_backward(5, 4, 64, 1);  // C % 4 == 0 but misaligned: scalar path
  check_mix_backward(1024, 4, 1024);
}

TEST_CASE("stream mixing backward kernels are deterministic", "[cuda]") {
  const std::int64_t N = 50, n = 4, C = 1030;
  const HostTensor x = random_f32(Shape{N, n, C}, "cuda.det.x"), y = random_f32(Shape{N, C}, "cuda.det.y");
  const HostTensor h = random_f32(Shape{N, n}, "cuda.det.h");
  Arena arena = device_arena(8 * x.view().bytes());
  const Tensor d_x = upload(arena, x, "x"), d_y = upload(arena, y, "y"), d_h = upload(arena, h, "h");
  const Tensor dy = arena.alloc(DType::f32, Shape{N, C}, "dy");
  const Tensor a = arena.alloc(DType::f32, Shape{N, n, n}, "a"), b = arena.alloc(DType::f32, Shape{N, n, n}, "b");
  const Tensor pa = arena.alloc(DType::f32, Shape{N, n}, "pa"), pb = arena.alloc(DType::f32, Shape{N, n}, "pb");
  ops::stream_post_res_backward(dy, a, pa, d_x, d_x, d_y, d_h);
  ops::stream_post_res_backward(dy, b, pb, d_x, d_x, d_y, d_h);
  check_close("dh_res, two runs", download(a), download(b), 0.0, 0.0);
  check_close("dh_post, two runs", download(pa), download(pb), 0.0, 0.0);
  ops::stream_pre_apply_backward(pa, d_y, d_x);
  ops::stream_pre_apply_backward(pb, d_y, d_x);
  check_close("dh_pre, two runs", download(pa), download(pb), 0.0, 0.0);
}

TEST_CASE("stream_post_res_forward runs on the current stream", "[cuda]") {
  const std::int64_t N = 64, n = 4, C = 128;
  const PostResInputs in = make_inputs(N, n, C);
  Arena arena = device_arena(total_bytes(in));
  const Tensor x = upload(arena, in.x, "x"), y = upload(arena, in.y, "y"), h_res = upload(arena, in.h_res, "h_res");
  const Tensor h_post = upload(arena, in.h_post, "h_post");
  const Tensor x_out = upload(arena, nan_tensor(DType::f32, in.x.view().shape), "x_out");
  cudaStream_t stream = nullptr;
  REQUIRE(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess);
  {
    StreamGuard guard(StreamHandle{stream});
    ops::stream_post_res_forward(x_out, x, y, h_res, h_post);
  }
  REQUIRE(cudaStreamSynchronize(stream) == cudaSuccess);
  check_close("x_out on a side stream", download(x_out), in.ref, 1e-5, 1e-5);
  REQUIRE(cudaStreamDestroy(stream) == cudaSuccess);
}

