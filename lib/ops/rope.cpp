// Checked entry points of RoPE; dispatch to the CPU oracle or the CUDA kernel.
#include "ops/rope.hpp"

#include "kernels/rope.hpp"
#include "ops/cpu/rope_cpu.hpp"
#include "ops/bf16_staging.hpp"
#include "ops/device_dispatch.hpp"
#include "ops/dispatch.hpp"

namespace mhc::ops {

namespace {

// Validates a (B, T, H, D) pair of tensors with even D and positive theta, then rotates.
void rope_checked(Tensor out_bf16, Tensor in_bf16, double theta, bool inverse, const char* out_name,
                  const char* in_name) {
  Bf16Staging bf16(inverse ? "rope_backward" : "rope_forward");
  const Tensor in = bf16.input(in_bf16), out = bf16.output(out_bf16);
  expect_rank(in, 4, in_name);
  expect_float(in, in_name);
  expect_shape(out, in.shape, out_name);
  expect_float(out, out_name);
  expect_same_dtype(out, in, out_name, in_name);
  expect_device(out, in.device, out_name);
  MHC_CHECK(in.dim(3) % 2 == 0, ShapeError, in_name, ": head dimension D must be even, got ", in.describe());
  MHC_CHECK(theta > 0, ShapeError, "theta must be > 0, got ", theta);
  if (on_cuda(in, inverse ? "rope_backward" : "rope_forward")) {
    kernels::launch_rope_rotate(out.ptr<float>(), in.ptr<float>(), in.dim(0), in.dim(1), in.dim(2), in.dim(3), theta,
                                inverse, current_stream());
    return;
  }
  dispatch_cpu_float(in.dtype, inverse ? "rope_backward" : "rope_forward", [&](auto zero) {
    using T = decltype(zero);
    cpu::rope_rotate<T>(out.ptr<T>(), in.ptr<T>(), in.dim(0), in.dim(1), in.dim(2), in.dim(3), theta, inverse);
  });
  bf16.finish();
}

}  // namespace

void rope_forward(Tensor out, Tensor x, double theta) { rope_checked(out, x, theta, false, "rope out", "rope x"); }

void rope_backward(Tensor dx, Tensor dout, double theta) {
  rope_checked(dx, dout, theta, true, "rope dx", "rope dout");
}

}  // namespace mhc::ops
