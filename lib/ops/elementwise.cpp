// Checked entry points of the element-wise ops.
#include "ops/elementwise.hpp"

#include "kernels/elementwise.hpp"
#include "ops/cpu/elementwise_cpu.hpp"
#include "ops/device_dispatch.hpp"
#include "ops/dispatch.hpp"

namespace mhc::ops {

void axpby(Tensor out, float alpha, Tensor a, float beta, Tensor b) {
  expect_float(out, "axpby out");
  expect_shape(a, out.shape, "axpby a");
  expect_shape(b, out.shape, "axpby b");
  expect_same_dtype(out, a, "axpby out", "a");
  expect_same_dtype(out, b, "axpby out", "b");
  expect_device(a, out.device, "axpby a");
  expect_device(b, out.device, "axpby b");
  if (on_cuda(out, "axpby")) {
    kernels::launch_axpby(out.ptr<float>(), alpha, a.ptr<float>(), beta, b.ptr<float>(), out.numel(), current_stream());
    return;
  }
  dispatch_cpu_float(out.dtype, "axpby", [&](auto zero) {
    using T = decltype(zero);
    cpu::axpby<T>(out.ptr<T>(), static_cast<T>(alpha), a.ptr<T>(), static_cast<T>(beta), b.ptr<T>(), out.numel());
  });
}

void convert_dtype(Tensor out, Tensor in) {
  expect_shape(in, out.shape, "convert_dtype in");
  expect_device(out, Device::cpu, "convert_dtype out");
  expect_device(in, Device::cpu, "convert_dtype in");
  expect_defined(out, "convert_dtype out");
  expect_defined(in, "convert_dtype in");
  cpu::convert_dtype(out, in);
}

}  // namespace mhc::ops
