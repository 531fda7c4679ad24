// Element-wise kernels: grid-stride loops with 64-bit indices; out may alias the inputs (no __restrict__).
#include "kernels/elementwise.hpp"

#include "kernels/cuda_check.cuh"
#include "kernels/launch.cuh"

namespace mhc::kernels {

namespace {

constexpr int kThreads = 256;
constexpr std::int64_t kMaxBlocks = 4096;  // grid-stride beyond this

// Explicitly rounded products and sum: the same result bits as the CPU's alpha * a + beta * b.
__device__ __forceinline__ float axpby1(float alpha, float a, float beta, float b) {
  return __fadd_rn(__fmul_rn(alpha, a), __fmul_rn(beta, b));
}

__global__ void axpby_kernel(float* out, float alpha, const float* a, float beta, const float* b, std::int64_t n) {
  const std::int64_t stride = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t k = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += stride)
    out[k] = axpby1(alpha, a[k], beta, b[k]);
}

// n4 = n / 4 float4 groups, then block 0 does the n % 4 trailing floats.
__global__ void axpby4_kernel(float* out, float alpha, const float* a, float beta, const float* b, std::int64_t n) {
  const std::int64_t n4 = n / 4;
  const std::int64_t stride = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  float4* out4 = reinterpret_cast<float4*>(out);
  const float4* a4 = reinterpret_cast<const float4*>(a);
  const float4* b4 = reinterpret_cast<const float4*>(b);
  for (std::int64_t k = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n4; k += stride) {
    const float4 u = a4[k], v = b4[k];
    out4[k] = make_float4(axpby1(alpha, u.x, beta, v.x), axpby1(alpha, u.y, beta, v.y), axpby1(alpha, u.z, beta, v.z),
                          axpby1(alpha, u.w, beta, v.w));
  }
  const std::int64_t tail = 4 * n4 + threadIdx.x;
  if (blockIdx.x == 0 && tail < n) out[tail] = axpby1(alpha, a[tail], beta, b[tail]);
}

}  // namespace

void launch_axpby(float* out, float alpha, const float* a, float beta, const float* b, std::int64_t n,
                  StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  MHC_CHECK(n >= 0, ShapeError, "axpby_kernel: negative size ", n);
  if (n == 0) return;
  if (aligned16(out) && aligned16(a) && aligned16(b)) {
    const std::int64_t groups = n / 4 > 0 ? n / 4 : 1;  // at least one block for the tail
    const unsigned int blocks = grid_blocks(groups < kMaxBlocks * kThreads ? groups : kMaxBlocks * kThreads, kThreads,
                                            "axpby4_kernel");
    launch("axpby4_kernel", axpby4_kernel, blocks, kThreads, 0, stream, out, alpha, a, beta, b, n);
  } else {
    const unsigned int blocks =
        grid_blocks(n < kMaxBlocks * kThreads ? n : kMaxBlocks * kThreads, kThreads, "axpby_kernel");
    launch("axpby_kernel", axpby_kernel, blocks, kThreads, 0, stream, out, alpha, a, beta, b, n);
  }
}

}  // namespace mhc::kernels
