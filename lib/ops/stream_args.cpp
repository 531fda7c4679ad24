// Argument checks shared by the connection-coefficient ops.
#include "ops/stream_args.hpp"

#include <string>

#include "ops/device_dispatch.hpp"

namespace mhc::ops {

StreamExtents expect_stream_tensor(const Tensor& ref, const char* op, const char* ref_name, bool allow_cuda) {
  const std::string name = std::string(op) + " " + ref_name;
  if (allow_cuda) {
    expect_float(ref, name.c_str());
    on_cuda(ref, name.c_str());  // f32 on the GPU; DeviceError in a build without CUDA
  } else {
    expect_cpu_float(ref, name.c_str());
  }
  expect_rank(ref, 3, name.c_str());
  const StreamExtents e{ref.dim(0), ref.dim(1), ref.dim(2)};
  MHC_CHECK(e.n >= 1 && e.n <= kMaxStreams, ShapeError, name, ": the number of streams n = ", e.n, " must be in 1..",
            kMaxStreams, ", got ", ref.describe());
  return e;
}

void expect_stream_arg(const Tensor& t, const Shape& s, const Tensor& ref, const char* ref_name, const char* op,
                       const char* what) {
  const std::string name = std::string(op) + " " + what;
  expect_defined(t, name.c_str());
  expect_device(t, ref.device, name.c_str());
  expect_same_dtype(t, ref, name.c_str(), ref_name);
  expect_shape(t, s, name.c_str());
}

}  // namespace mhc::ops
