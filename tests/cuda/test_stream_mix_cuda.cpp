// [cuda] Stream mixing kernels (pre-apply and post + res, forward and backward) vs the CPU oracle (fp32 both),
// through the ops::stream_* entry points.
#include <catch2/catch.hpp>

#include <cuda_runtime.h>

#include <string>

#include "core/stream.hpp"
#include "cuda/device_support.hpp"
#include "cuda/sum_tolerance.hpp"
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

// Runs the kernel with x, y and x_out offset by `shift` floats from the arena's 256-byte alignment
// (shift = 1 forces the scalar path even when C % 4 == 0).
void check_post_res(std::int64_t N, std::int64_t n, std::int64_t C, std::int64_t shift = 0) {
  const std::string tag = "N " + std::to_string(N) + " n " + std::to_string(n) + " C " + std::to_string(C) +
                          " shift " + std::to_string(shift);
  INFO(tag);
  const PostResInputs in = make_inputs(N, n, C);
  Arena arena = device_arena(total_bytes(in));
  const auto shifted = [&](const HostTensor& host, const char* what) {
    Tensor d = arena.alloc(DType::f32, Shape{host.numel() + shift}, what);
    d = Tensor(d.ptr<float>() + shift, DType::f32, host.view().shape, Device::cuda);
    copy_tensor(d, host);
    return d;
  };
  const Tensor x = shifted(in.x, "x"), y = shifted(in.y, "y");
  const Tensor x_out = shifted(nan_tensor(DType::f32, in.ref.view().shape), "x_out");
  const Tensor h_res = upload(arena, in.h_res, "h_res"), h_post = upload(arena, in.h_post, "h_post");
  ops::stream_post_res_forward(x_out, x, y, h_res, h_post);
  // n + 1 fused multiply-adds per output on the GPU vs BLAS on the CPU: a few fp32 roundings of O(1) terms.
  check_close("x_out (" + tag + ")", download(x_out), in.ref, 1e-5, 1e-5);
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

void check_pre_apply(std::int64_t N, std::int64_t n, std::int64_t C, std::int64_t shift = 0) {
  const std::string tag = shape_tag(N, n, C, shift);
  INFO(tag);
  const HostTensor x = random_f32(Shape{N, n, C}, "cuda.pa.x"), h = random_f32(Shape{N, n}, "cuda.pa.h");
  const HostTensor du = random_f32(Shape{N, C}, "cuda.pa.du");
  const HostTensor u_ref(DType::f32, Shape{N, C}), dh_ref(DType::f32, Shape{N, n});
  ops::stream_pre_apply_forward(u_ref, x, h);
  ops::stream_pre_apply_backward(dh_ref, du, x);

  ShiftedUploads up{device_arena(2 * (x.view().bytes() + 2 * du.view().bytes() + 2 * h.view().bytes())), shift};
  const Tensor d_x = up(x, "x"), d_h = up(h, "h"), d_du = up(du, "du");
  const Tensor d_u = up(nan_tensor(DType::f32, Shape{N, C}), "u");
  const Tensor d_dh = up(nan_tensor(DType::f32, Shape{N, n}), "dh");
  ops::stream_pre_apply_forward(d_u, d_x, d_h);
  ops::stream_pre_apply_backward(d_dh, d_du, d_x);
  // u: the oracle's products and sums in its order, each explicitly rounded: bitwise equal.
  check_close("u (" + tag + ")", download(d_u), u_ref, 0.0, 0.0);
  // dh_pre: dot products over C summed in another order.
  HostTensor abs_sum(DType::f64, Shape{N, n});
  for (std::int64_t t = 0; t < N; ++t)
    for (std::int64_t i = 0; i < n; ++i) abs_sum.set(t * n + i, abs_dot(x, t * n + i, du, t, C));
  check_sum_close("dh_pre (" + tag + ")", download(d_dh), dh_ref, abs_sum, static_cast<double>(C));
}

void check_post_res_backward(std::int64_t N, std::int64_t n, std::int64_t C, std::int64_t shift = 0) {
  const std::string tag = shape_tag(N, n, C, shift);
  INFO(tag);
  const HostTensor x = random_f32(Shape{N, n, C}, "cuda.prb.x"), y = random_f32(Shape{N, C}, "cuda.prb.y");
  const HostTensor h_post = random_f32(Shape{N, n}, "cuda.prb.hpost");
  const HostTensor g = random_f32(Shape{N, n, C}, "cuda.prb.g");
  const HostTensor dy_ref(DType::f32, Shape{N, C});
  const HostTensor dh_res_ref(DType::f32, Shape{N, n, n}), dh_post_ref(DType::f32, Shape{N, n});
  ops::stream_post_res_backward(dy_ref, dh_res_ref, dh_post_ref, g, x, y, h_post);

  ShiftedUploads up{device_arena(2 * (2 * x.view().bytes() + 2 * y.view().bytes() + N * n * (n + 2) * 4)), shift};
  const Tensor d_x = up(x, "x"), d_y = up(y, "y"), d_g = up(g, "g"), d_hpost = up(h_post, "h_post");
  const Tensor d_dy = up(nan_tensor(DType::f32, Shape{N, C}), "dy");
  const Tensor d_dhres = up(nan_tensor(DType::f32, Shape{N, n, n}), "dh_res");
  const Tensor d_dhpost = up(nan_tensor(DType::f32, Shape{N, n}), "dh_post");
  ops::stream_post_res_backward(d_dy, d_dhres, d_dhpost, d_g, d_x, d_y, d_hpost);
  // dy: the oracle's order (i ascending) and rounding (explicit, no FMA): bitwise equal.
  check_close("dy (" + tag + ")", download(d_dy), dy_ref, 0.0, 0.0);
  HostTensor abs_res(DType::f64, Shape{N, n, n}), abs_post(DType::f64, Shape{N, n});
  for (std::int64_t t = 0; t < N; ++t)
    for (std::int64_t i = 0; i < n; ++i) {
      for (std::int64_t j = 0; j < n; ++j) abs_res.set((t * n + i) * n + j, abs_dot(g, t * n + i, x, t * n + j, C));
      abs_post.set(t * n + i, abs_dot(g, t * n + i, y, t, C));
    }
  check_sum_close("dh_res (" + tag + ")", download(d_dhres), dh_res_ref, abs_res, static_cast<double>(C));
  check_sum_close("dh_post (" + tag + ")", download(d_dhpost), dh_post_ref, abs_post, static_cast<double>(C));
}

// stream_mix_backward with and without the x term: the oracle's order and explicit rounding, bitwise equal.
void check_mix_backward(std::int64_t N, std::int64_t n, std::int64_t C, std::int64_t shift = 0) {
  const std::string tag = shape_tag(N, n, C, shift);
  INFO(tag);
  const HostTensor x = random_f32(Shape{N, n, C}, "cuda.mix.x"), g = random_f32(Shape{N, n, C}, "cuda.mix.g");
  const HostTensor du = random_f32(Shape{N, C}, "cuda.mix.du"), dx0 = random_f32(Shape{N, n, C}, "cuda.mix.dx");
  const HostTensor h_res = random_f32(Shape{N, n, n}, "cuda.mix.hres", 0.5);
  const HostTensor h_pre = random_f32(Shape{N, n}, "cuda.mix.hpre"), coef = random_f32(Shape{N}, "cuda.mix.coef");
  for (const bool x_term : {true, false}) {
    INFO((x_term ? "with" : "without") << " the x term");
    const HostTensor dx_ref = to_dtype(dx0, DType::f32);
    ops::stream_mix_backward(dx_ref, g, du, h_res, h_pre, x, x_term ? coef.view() : Tensor());
    ShiftedUploads up{device_arena(2 * (4 * x.view().bytes() + 2 * du.view().bytes() + N * (n * n + n + 1) * 4)),
                      shift};
    const Tensor d_x = up(x, "x"), d_g = up(g, "g"), d_du = up(du, "du"), d_dx = up(dx0, "dx");
    const Tensor d_hres = up(h_res, "h_res"), d_hpre = up(h_pre, "h_pre"), d_coef = up(coef, "coef");
    ops::stream_mix_backward(d_dx, d_g, d_du, d_hres, d_hpre, d_x, x_term ? d_coef : Tensor());
    check_close("dx (" + tag + ")", download(d_dx), dx_ref, 0.0, 0.0);
  }
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

TEST_CASE("stream_post_res_backward kernel matches the CPU oracle", "[cuda]") {
  for (const std::int64_t n : {1, 2, 3, 4, 8})
    for (const std::int64_t C : {1, 7, 33, 256, 260, 1030})
      for (const std::int64_t N : {1, 3, 37}) check_post_res_backward(N, n, C);
  check_post_res_backward(5, 4, 64, 1);  // scalar path
  check_post_res_backward(2048, 4, 1024);
  check_post_res_backward(300, 4, 2048);
  check_post_res_backward(64, 8, 3000);  // n = 8, float4, 3 rounds of columns per thread
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

TEST_CASE("stream_post_res_forward kernel matches the CPU oracle", "[cuda]") {
  for (const std::int64_t n : {1, 2, 3, 4, 8})
    for (const std::int64_t C : {1, 7, 33, 256, 260, 1030})
      for (const std::int64_t N : {1, 3, 37}) check_post_res(N, n, C);
  check_post_res(5, 4, 64, 1);   // C % 4 == 0 but misaligned: scalar path
  check_post_res(5, 4, 1024, 2);
  check_post_res(4096, 4, 1024);  // large-ish, float4 path
  check_post_res(4096, 4, 1023);  // large-ish, scalar path
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

