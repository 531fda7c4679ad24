// Checked entry points of the stream mixing ops; dispatch to the CPU oracle or the CUDA kernel.
#include "ops/stream_mix.hpp"

#include "kernels/stream_mix.hpp"
#include "ops/cpu/stream_mix_cpu.hpp"
#include "ops/bf16_staging.hpp"
#include "ops/device_dispatch.hpp"
#include "ops/dispatch.hpp"

namespace mhc::ops {

namespace {

// Extents of the stream tensor x (N, n, C).
struct StreamDims {
  std::int64_t N, n, C;
};

StreamDims check_streams(const Tensor& x, const char* what) {
  expect_rank(x, 3, what);
  expect_float(x, what);
  MHC_CHECK(x.dim(1) >= 1, ShapeError, what, " needs at least one stream, got ", x.describe());
  return {x.dim(0), x.dim(1), x.dim(2)};
}

// `t` has shape `s` and the dtype and device of x.
void expect_operand(const Tensor& t, const Shape& s, const Tensor& x, const char* what) {
  expect_defined(t, what);
  expect_shape(t, s, what);
  expect_same_dtype(t, x, what, "x");
  expect_device(t, x.device, what);
}

// n as the kernels take it: the CUDA kernels keep n x n coefficients in registers, n <= 8.
int kernel_streams(std::int64_t n, const char* op) {
  MHC_CHECK(n <= 8, ShapeError, op, ": the CUDA kernels support at most 8 streams, got n = ", n);
  return static_cast<int>(n);
}

}  // namespace

void stream_pre_apply_forward(Tensor u, Tensor x, Tensor h_pre) {
  const StreamDims d = check_streams(x, "stream_pre_apply_forward x");
  const std::int64_t N = d.N, n = d.n, C = d.C;
  expect_operand(u, Shape{N, C}, x, "stream_pre_apply_forward u");
  expect_operand(h_pre, Shape{N, n}, x, "stream_pre_apply_forward h_pre");
  if (on_cuda(x, "stream_pre_apply_forward")) {
    kernels::launch_stream_pre_apply_forward(u.ptr<float>(), x.ptr<float>(), h_pre.ptr<float>(), N,
                                             kernel_streams(n, "stream_pre_apply_forward"), C, current_stream());
    return;
  }
  dispatch_cpu_float(x.dtype, "stream_pre_apply_forward", [&](auto zero) {
    using T = decltype(zero);
    cpu::stream_pre_apply_forward<T>(u.ptr<T>(), x.ptr<T>(), h_pre.ptr<T>(), N, n, C);
  });
}

void stream_pre_apply_backward(Tensor dh_pre, Tensor du, Tensor x) {
  const StreamDims d = check_streams(x, "stream_pre_apply_backward x");
  const std::int64_t N = d.N, n = d.n, C = d.C;
  expect_operand(dh_pre, Shape{N, n}, x, "stream_pre_apply_backward dh_pre");
  expect_operand(du, Shape{N, C}, x, "stream_pre_apply_backward du");
  if (on_cuda(x, "stream_pre_apply_backward")) {
    kernels::launch_stream_pre_apply_backward(dh_pre.ptr<float>(), du.ptr<float>(), x.ptr<float>(), N,
                                              kernel_streams(n, "stream_pre_apply_backward"), C, current_stream());
    return;
  }
  dispatch_cpu_float(x.dtype, "stream_pre_apply_backward", [&](auto zero) {
    using T = decltype(zero);
    cpu::stream_pre_apply_backward<T>(dh_pre.ptr<T>(), du.ptr<T>(), x.ptr<T>(), N, n, C);
  });
}

void stream_post_res_forward(Tensor x_out, Tensor x, Tensor y, Tensor h_res, Tensor h_post) {
  const StreamDims d = check_streams(x, "stream_post_res_forward x");
  const std::int64_t N = d.N, n = d.n, C = d.C;
  expect_operand(x_out, x.shape, x, "stream_post_res_forward x_out");
  expect_operand(y, Shape{N, C}, x, "stream_post_res_forward y");
  expect_operand(h_res, Shape{N, n, n}, x, "stream_post_res_forward h_res");
  expect_operand(h_post, Shape{N, n}, x, "stream_post_res_forward h_post");
  MHC_CHECK(x_out.data != x.data || x.numel() == 0, ShapeError, "stream_post_res_forward x_out must not alias x");
  if (on_cuda(x, "stream_post_res_forward")) {
    kernels::launch_stream_post_res_forward(x_out.ptr<float>(), x.ptr<float>(), y.ptr<float>(), h_res.ptr<float>(),
                                            h_post.ptr<float>(), N, kernel_streams(n, "stream_post_res_forward"), C,
                                            current_stream());
    return;
  }
  dispatch_cpu_float(x.dtype, "stream_post_res_forward", [&](auto zero) {
    using T = decltype(zero);
    cpu::stream_post_res_forward<T>(x_out.ptr<T>(), x.ptr<T>(), y.ptr<T>(), h_res.ptr<T>(), h_post.ptr<T>(), N, n, C);
  });
}

void stream_post_res_backward(Tensor dy_bf16, Tensor dh_res, Tensor dh_post, Tensor dx_out, Tensor x, Tensor y,
                              Tensor h_post) {
  Bf16Staging bf16("stream_post_res_backward");  // dy may be the sublayer's bf16 matmul operand
  const Tensor dy = bf16.output(dy_bf16);
  const StreamDims d = check_streams(x, "stream_post_res_backward x");
  const std::int64_t N = d.N, n = d.n, C = d.C;
  MHC_CHECK(dh_res.defined() == dh_post.defined(), ShapeError,
            "stream_post_res_backward: dh_res and dh_post must both be defined or both undefined");
  MHC_CHECK(dy.defined() || dh_res.defined(), ShapeError, "stream_post_res_backward: no output defined");
  if (dy.defined()) expect_operand(dy, Shape{N, C}, x, "stream_post_res_backward dy");
  if (dh_res.defined()) {
    expect_operand(dh_res, Shape{N, n, n}, x, "stream_post_res_backward dh_res");
    expect_operand(dh_post, Shape{N, n}, x, "stream_post_res_backward dh_post");
  }
  expect_operand(dx_out, x.shape, x, "stream_post_res_backward dx_out");
  expect_operand(y, Shape{N, C}, x, "stream_post_res_backward y");
  expect_operand(h_post, Shape{N, n}, x, "stream_post_res_backward h_post");
  if (on_cuda(x, "stream_post_res_backward")) {
    kernels::launch_stream_post_res_backward(dy.defined() ? dy.ptr<float>() : nullptr,
                                             dh_res.defined() ? dh_res.ptr<float>() : nullptr,
                                             dh_post.defined() ? dh_post.ptr<float>() : nullptr,
                                             dx_out.ptr<float>(), x.ptr<float>(), y.ptr<float>(), h_post.ptr<float>(),
                                             N, kernel_streams(n, "stream_post_res_backward"), C, current_stream());
    return;
  }
  dispatch_cpu_float(x.dtype, "stream_post_res_backward", [&](auto zero) {
    using T = decltype(zero);
    cpu::stream_post_res_backward<T>(dy.defined() ? dy.ptr<T>() : nullptr, dh_res.defined() ? dh_res.ptr<T>() : nullptr,
                                     dh_post.defined() ? dh_post.ptr<T>() : nullptr, dx_out.ptr<T>(), x.ptr<T>(),
                                     y.ptr<T>(), h_post.ptr<T>(), N, n, C);
  });
  bf16.finish();
}

void stream_mix_backward(Tensor dx, Tensor dx_out, Tensor du, Tensor h_res, Tensor h_pre, Tensor x, Tensor x_coef) {
  const StreamDims d = check_streams(x, "stream_mix_backward x");
  const std::int64_t N = d.N, n = d.n, C = d.C;
  expect_operand(dx, x.shape, x, "stream_mix_backward dx");
  expect_operand(dx_out, x.shape, x, "stream_mix_backward dx_out");
  expect_operand(du, Shape{N, C}, x, "stream_mix_backward du");
  expect_operand(h_res, Shape{N, n, n}, x, "stream_mix_backward h_res");
  expect_operand(h_pre, Shape{N, n}, x, "stream_mix_backward h_pre");
  if (x_coef.defined()) expect_operand(x_coef, Shape{N}, x, "stream_mix_backward x_coef");
  MHC_CHECK(dx.data != dx_out.data || x.numel() == 0, ShapeError, "stream_mix_backward dx must not alias dx_out");
  if (on_cuda(x, "stream_mix_backward")) {
    kernels::launch_stream_mix_backward(dx.ptr<float>(), dx_out.ptr<float>(), du.ptr<float>(), h_res.ptr<float>(),
                                        h_pre.ptr<float>(), x.ptr<float>(),
                                        x_coef.defined() ? x_coef.ptr<float>() : nullptr, N,
                                        kernel_streams(n, "stream_mix_backward"), C, current_stream());
    return;
  }
  dispatch_cpu_float(x.dtype, "stream_mix_backward", [&](auto zero) {
    using T = decltype(zero);
    cpu::stream_mix_backward<T>(dx.ptr<T>(), dx_out.ptr<T>(), du.ptr<T>(), h_res.ptr<T>(), h_pre.ptr<T>(), x.ptr<T>(),
                                x_coef.defined() ? x_coef.ptr<T>() : nullptr, N, n, C);
  });
}

}  // namespace mhc::ops
