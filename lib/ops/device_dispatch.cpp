// Device dispatch checks shared by the op entry points.
#include "ops/device_dispatch.hpp"

#include "core/copy.hpp"
#include "core/device_runtime.hpp"

namespace mhc::ops {

void expect_float(const Tensor& t, const char* what) {
  expect_defined(t, what);
  MHC_CHECK(t.dtype == DType::f32 || t.dtype == DType::f64, ShapeError, what, " must be f32 or f64, got ",
            t.describe());
}

bool on_cuda(const Tensor& t, const char* op) {
  if (t.device != Device::cuda) return false;
  if (!cuda_backend_built())
    throw DeviceError(
        detail::concat(op, ": got a cuda tensor (", t.describe(), ") but this build has no CUDA backend"));
  MHC_CHECK(t.dtype == DType::f32, ShapeError, op, ": the CUDA backend computes in f32, got ", t.describe());
  return true;
}

std::vector<std::int32_t> download_i32(const Tensor& t, const char* what) {
  expect_dtype(t, DType::i32, what);
  expect_device(t, Device::cuda, what);
  expect_defined(t, what);
  if (!cuda_backend_built())
    throw DeviceError(
        detail::concat(what, ": got a cuda tensor (", t.describe(), ") but this build has no CUDA backend"));
  std::vector<std::int32_t> host(static_cast<std::size_t>(t.numel()));
  if (!host.empty()) device_copy_bytes(host.data(), t.data, t.bytes());  // after the current stream's work
  return host;
}

}  // namespace mhc::ops
