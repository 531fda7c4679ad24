// Sum-of-squares reduction (two deterministic passes: block partials, then one block over the partials) and
// in-place scaling, for the global gradient norm and clipping.
#include "core/device_scratch.hpp"
#include "kernels/block_sum.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/grad_norm.hpp"
#include "kernels/launch.cuh"


namespace mhc::kernels {

namespace {

constexpr int kThreads = 256;              // a multiple of 32, as block_sum needs
constexpr std::int64_t kMaxPartials = 1024;  // blocks of the first pass (grid-stride beyond)

// partials[b] = sum of x[k]^2 over this block's grid-stride elements, in double.
__global__ void sum_squares_partials_kernel(double* partials, const float* x, std::int64_t n) {
  __shared__ double scratch[32];
  const std::int64_t stride = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  double s = 0.0;
  for (std::int64_t k = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += stride) {
    const double v = x[k];
    s += v * v;  // exact product of two floats, so a contracted fma rounds the same
  }
  s = block_sum(s, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

// *out = sum of partials[0, count) (0 when count = 0); one block.
__global__ void sum_squares_finish_kernel(double* out, const double* partials, std::int64_t count) {
  __shared__ double scratch[32];
  double s = 0.0;
  for (std::int64_t k = threadIdx.x; k < count; k += blockDim.x) s += partials[k];
  s = block_sum(s, scratch);
  if (threadIdx.x == 0) *out = s;
}

__global__ void scale_inplace_kernel(float* x, float s, std::int64_t n) {
  const std::int64_t stride = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t k = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += stride)
    x[k] = __fmul_rn(x[k], s);
}

}  // namespace

std::vector<double> sum_squares_each(const std::vector<const float*>& xs, const std::vector<std::int64_t>& ns,
                                     StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  const char* kernel = "sum_squares_partials_kernel";
  MHC_CHECK(xs.size() == ns.size(), ShapeError, kernel, ": ", xs.size(), " arrays but ", ns.size(), " sizes");
  std::vector<double> sums(xs.size(), 0.0);
  if (xs.empty()) return sums;
  const auto count = static_cast<std::int64_t>(xs.size());
  DeviceScratch scratch((count + kMaxPartials) * static_cast<std::int64_t>(sizeof(double)), stream_handle, kernel);
  double* results = scratch.as<double>();
  double* partials = results + count;
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int64_t n = ns[static_cast<std::size_t>(i)];
    MHC_CHECK(n >= 0, ShapeError, kernel, ": negative size ", n, " of array ", i);
    std::int64_t blocks = 0;
    if (n > 0) {
      blocks = (n + kThreads - 1) / kThreads < kMaxPartials ? (n + kThreads - 1) / kThreads : kMaxPartials;
      launch(kernel, sum_squares_partials_kernel, static_cast<unsigned int>(blocks), kThreads, 0, stream, partials,
             xs[static_cast<std::size_t>(i)], n);
    }
    launch("sum_squares_finish_kernel", sum_squares_finish_kernel, 1, kThreads, 0, stream, results + i, partials,
           blocks);
  }
  cudaError_t e = cudaMemcpyAsync(sums.data(), results, sums.size() * sizeof(double), cudaMemcpyDeviceToHost, stream);
  if (e == cudaSuccess) e = cudaStreamSynchronize(stream);
  MHC_CHECK(e == cudaSuccess, DeviceError, kernel, ": reading the sums back failed: ", cudaGetErrorString(e));
  return sums;
}

void launch_scale_inplace(float* x, float s, std::int64_t n, StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  MHC_CHECK(n >= 0, ShapeError, "scale_inplace_kernel: negative size ", n);
  if (n == 0) return;
  constexpr std::int64_t kMaxBlocks = 4096;
  const unsigned int blocks =
      grid_blocks(n < kMaxBlocks * kThreads ? n : kMaxBlocks * kThreads, kThreads, "scale_inplace_kernel");
  launch("scale_inplace_kernel", scale_inplace_kernel, blocks, kThreads, 0, stream, x, s, n);
}

}  // namespace mhc::kernels
