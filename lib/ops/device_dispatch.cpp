// Device dispatch checks shared by the op entry points.
#include "ops/device_dispatch.hpp"

namespace mhc::ops {

void expect_float(const Tensor& t, const char* what) {
  expect_defined(t, what);
  MHC_CHECK(t.dtype == DType::f32 || t.dtype == DType::f64, ShapeError, what, " must be f32 or f64, got ",
            t.describe());
}

bool on_cuda(const Tensor& t, const char* op) {
  if (t.device != Device::cuda) return false;
#ifdef MHC_HAVE_CUDA
  MHC_CHECK(t.dtype == DType::f32, ShapeError, op, ": the CUDA backend computes in f32, got ", t.describe());
  return true;
#else
  throw DeviceError(detail::concat(op, ": got a cuda tensor (", t.describe(), ") but this build has no CUDA backend"));
#endif
}

void expect_no_cuda_kernel(const Tensor& t, const char* op) {
  MHC_CHECK(t.device != Device::cuda, DeviceError, op, " has no CUDA kernel yet, got ", t.describe());
}

}  // namespace mhc::ops
