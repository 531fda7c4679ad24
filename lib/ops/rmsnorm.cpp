// Checked entry points of RMSNorm; dispatch to the CPU oracle or the CUDA kernels.
#include "ops/rmsnorm.hpp"

#include "kernels/rmsnorm.hpp"
#include "ops/cpu/rmsnorm_cpu.hpp"
#include "ops/bf16_staging.hpp"
#include "ops/device_dispatch.hpp"
#include "ops/dispatch.hpp"

namespace mhc::ops {

namespace {

// x (N, C) f32 or f64 on any device.
void check_x(const Tensor& x) {
  expect_rank(x, 2, "rmsnorm x");
  expect_float(x, "rmsnorm x");
}

// A float tensor of the given shape with x's dtype and device.
void expect_like_x(const Tensor& t, const Shape& shape, const Tensor& x, const char* name) {
  expect_shape(t, shape, name);
  expect_float(t, name);
  expect_same_dtype(t, x, name, "x");
  expect_device(t, x.device, name);
}

}  // namespace

void rmsnorm_forward(Tensor out_bf16, Tensor rstd, Tensor x_bf16, Tensor w, double eps) {
  Bf16Staging bf16("rmsnorm_forward");
  const Tensor out = bf16.output(out_bf16), x = bf16.input(x_bf16);
  check_x(x);
  const std::int64_t N = x.dim(0), C = x.dim(1);
  expect_like_x(out, Shape{N, C}, x, "rmsnorm out");
  expect_like_x(rstd, Shape{N}, x, "rmsnorm rstd");
  expect_like_x(w, Shape{C}, x, "rmsnorm w");
  MHC_CHECK(eps >= 0, ShapeError, "eps must be >= 0, got ", eps);
  if (on_cuda(x, "rmsnorm_forward")) {
    kernels::launch_rmsnorm_forward(out.ptr<float>(), rstd.ptr<float>(), x.ptr<float>(), w.ptr<float>(), N, C, eps,
                                    current_stream());
    return;
  }
  dispatch_cpu_float(x.dtype, "rmsnorm_forward", [&](auto zero) {
    using T = decltype(zero);
    cpu::rmsnorm_forward<T>(out.ptr<T>(), rstd.ptr<T>(), x.ptr<T>(), w.ptr<T>(), N, C, eps);
  });
  bf16.finish();
}

void rmsnorm_backward_input(Tensor dx_bf16, Tensor dout_bf16, Tensor x_bf16, Tensor w, Tensor rstd) {
  Bf16Staging bf16("rmsnorm_backward_input");
  const Tensor dx = bf16.output(dx_bf16), dout = bf16.input(dout_bf16), x = bf16.input(x_bf16);
  check_x(x);
  const std::int64_t N = x.dim(0), C = x.dim(1);
  expect_like_x(dx, Shape{N, C}, x, "rmsnorm dx");
  expect_like_x(dout, Shape{N, C}, x, "rmsnorm dout");
  expect_like_x(w, Shape{C}, x, "rmsnorm w");
  expect_like_x(rstd, Shape{N}, x, "rmsnorm rstd");
  if (on_cuda(x, "rmsnorm_backward_input")) {
    kernels::launch_rmsnorm_backward_input(dx.ptr<float>(), dout.ptr<float>(), x.ptr<float>(), w.ptr<float>(),
                                           rstd.ptr<float>(), N, C, current_stream());
    return;
  }
  dispatch_cpu_float(x.dtype, "rmsnorm_backward_input", [&](auto zero) {
    using T = decltype(zero);
    cpu::rmsnorm_backward_input<T>(dx.ptr<T>(), dout.ptr<T>(), x.ptr<T>(), w.ptr<T>(), rstd.ptr<T>(), N, C);
  });
  bf16.finish();
}

void rmsnorm_backward_weight(Tensor dw, Tensor dout_bf16, Tensor x_bf16, Tensor rstd) {
  Bf16Staging bf16("rmsnorm_backward_weight");
  const Tensor dout = bf16.input(dout_bf16), x = bf16.input(x_bf16);
  check_x(x);
  const std::int64_t N = x.dim(0), C = x.dim(1);
  expect_like_x(dw, Shape{C}, x, "rmsnorm dw");
  expect_like_x(dout, Shape{N, C}, x, "rmsnorm dout");
  expect_like_x(rstd, Shape{N}, x, "rmsnorm rstd");
  if (on_cuda(x, "rmsnorm_backward_weight")) {
    kernels::launch_rmsnorm_backward_weight(dw.ptr<float>(), dout.ptr<float>(), x.ptr<float>(), rstd.ptr<float>(), N,
                                            C, current_stream());
    return;
  }
  dispatch_cpu_float(x.dtype, "rmsnorm_backward_weight", [&](auto zero) {
    using T = decltype(zero);
    cpu::rmsnorm_backward_weight<T>(dw.ptr<T>(), dout.ptr<T>(), x.ptr<T>(), rstd.ptr<T>(), N, C);
  });
}

}  // namespace mhc::ops
