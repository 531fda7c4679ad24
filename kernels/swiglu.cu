// SwiGLU kernels: grid-stride loops with 64-bit indices, per element in double with the CPU oracle's formulas and
// rounding (explicit _rn operations, so no FMA contraction); outputs may alias inputs (no __restrict__).
#include "kernels/swiglu.hpp"

#include "kernels/cuda_check.cuh"
#include "kernels/launch.cuh"

namespace mhc::kernels {

namespace {

constexpr int kThreads = 256;
constexpr std::int64_t kMaxBlocks = 4096;  // grid-stride beyond this

// The oracle's overflow-free sigmoid.
__device__ __forceinline__ double sigmoid(double g) {
  if (g >= 0) return 1.0 / (1.0 + exp(-g));
  const double e = exp(g);
  return e / (1.0 + e);
}

__global__ void swiglu_forward_kernel(float* out, const float* gate, const float* up, std::int64_t n) {
  const std::int64_t stride = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t k = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += stride) {
    const double g = gate[k], u = up[k];
    out[k] = static_cast<float>(__dmul_rn(__dmul_rn(g, sigmoid(g)), u));
  }
}

__global__ void swiglu_backward_kernel(float* dgate, float* dup, const float* dout, const float* gate,
                                       const float* up, std::int64_t n) {
  const std::int64_t stride = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t k = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += stride) {
    const double g = gate[k], u = up[k], d = dout[k];
    const double s = sigmoid(g);
    const double slope = __dadd_rn(1.0, __dmul_rn(g, 1.0 - s));  // 1 + g (1 - s)
    dgate[k] = static_cast<float>(__dmul_rn(__dmul_rn(__dmul_rn(d, u), s), slope));
    dup[k] = static_cast<float>(__dmul_rn(__dmul_rn(d, g), s));
  }
}

unsigned int blocks_for(std::int64_t n, const char* kernel) {
  return grid_blocks(n < kMaxBlocks * kThreads ? n : kMaxBlocks * kThreads, kThreads, kernel);
}

}  // namespace

void launch_swiglu_forward(float* out, const float* gate, const float* up, std::int64_t n, StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  MHC_CHECK(n >= 0, ShapeError, "swiglu_forward_kernel: negative size ", n);
  if (n == 0) return;
  launch("swiglu_forward_kernel", swiglu_forward_kernel, blocks_for(n, "swiglu_forward_kernel"), kThreads, 0, stream,
         out, gate, up, n);
}

void launch_swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                            std::int64_t n, StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  MHC_CHECK(n >= 0, ShapeError, "swiglu_backward_kernel: negative size ", n);
  if (n == 0) return;
  launch("swiglu_backward_kernel", swiglu_backward_kernel, blocks_for(n, "swiglu_backward_kernel"), kThreads, 0, stream,
         dgate, dup, dout, gate, up, n);
}

}  // namespace mhc::kernels
