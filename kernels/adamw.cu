// AdamW kernel: a grid-stride loop with 64-bit indices, per element in double with explicitly rounded operations.
#include "kernels/adamw.hpp"

#include "kernels/cuda_check.cuh"
#include "kernels/launch.cuh"

namespace mhc::kernels {

namespace {

constexpr int kThreads = 256;
constexpr std::int64_t kMaxBlocks = 4096;  // grid-stride beyond this

__global__ void adamw_step_kernel(float* __restrict__ param, const float* __restrict__ grad, float* __restrict__ m,
                                  float* __restrict__ v, std::int64_t n, ops::cpu::AdamWScalars s) {
  const std::int64_t stride = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t k = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += stride) {
    const double g = grad[k];
    const double mk = __dadd_rn(__dmul_rn(s.beta1, m[k]), __dmul_rn(1.0 - s.beta1, g));
    const double vk = __dadd_rn(__dmul_rn(s.beta2, v[k]), __dmul_rn(__dmul_rn(1.0 - s.beta2, g), g));
    m[k] = static_cast<float>(mk);
    v[k] = static_cast<float>(vk);
    const double denom = __dadd_rn(__dmul_rn(sqrt(vk), s.inv_sqrt_bc2), s.eps);
    const double update = __ddiv_rn(__dmul_rn(s.step_size, mk), denom);
    param[k] = static_cast<float>(__dsub_rn(__dmul_rn(s.decay, param[k]), update));
  }
}

}  // namespace

void launch_adamw_step(float* param, const float* grad, float* m, float* v, std::int64_t n,
                       const ops::cpu::AdamWScalars& s, StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  MHC_CHECK(n >= 0, ShapeError, "adamw_step_kernel: negative size ", n);
  if (n == 0) return;
  const unsigned int blocks =
      grid_blocks(n < kMaxBlocks * kThreads ? n : kMaxBlocks * kThreads, kThreads, "adamw_step_kernel");
  launch("adamw_step_kernel", adamw_step_kernel, blocks, kThreads, 0, stream, param, grad, m, v, n, s);
}

}  // namespace mhc::kernels
