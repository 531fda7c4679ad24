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

std::vector<std::int32_t> download_i32(const Tensor& t, const char* what) {
  expect_dtype(t, DType::i32, what);
  expect_device(t, Device::cuda, what);
  expect_defined(t, what);
#ifdef MHC_HAVE_CUDA
  std::vector<std::int32_t> host(static_cast<std::size_t>(t.numel()));
  if (host.empty()) return host;
  const cudaStream_t stream = cuda_stream();
  cudaError_t e = cudaMemcpyAsync(host.data(), t.data, static_cast<std::size_t>(t.bytes()), cudaMemcpyDeviceToHost,
                                  stream);
  if (e == cudaSuccess) e = cudaStreamSynchronize(stream);
  MHC_CHECK(e == cudaSuccess, DeviceError, what, ": copy to the host failed: ", cudaGetErrorString(e));
  return host;
#else
  throw DeviceError(
      detail::concat(what, ": got a cuda tensor (", t.describe(), ") but this build has no CUDA backend"));
#endif
}

}  // namespace mhc::ops
