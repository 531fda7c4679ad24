// Softmax cross-entropy kernels: one block per row; the forward takes the row maximum (exact) and then the double
// sum of exp(logit - max) with deterministic block reductions; the backward is element-wise per row.
#include "kernels/cross_entropy.hpp"

#include <limits>

#include "kernels/block_sum.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/launch.cuh"

namespace mhc::kernels {

namespace {

constexpr int kThreads = 256;  // a multiple of 32, as block_sum and block_max need

__global__ void softmax_xent_forward_kernel(float* loss, float* lse, const float* logits,
                                            const std::int32_t* targets, std::int64_t V) {
  __shared__ float max_scratch[32];
  __shared__ double sum_scratch[32];
  const std::int64_t row = blockIdx.x;
  const float* l = logits + row * V;
  float m = -std::numeric_limits<float>::infinity();
  for (std::int64_t j = threadIdx.x; j < V; j += blockDim.x) m = fmaxf(m, l[j]);
  m = block_max(m, max_scratch);
  const double md = m;
  double sum = 0.0;
  for (std::int64_t j = threadIdx.x; j < V; j += blockDim.x) sum += exp(static_cast<double>(l[j]) - md);
  sum = block_sum(sum, sum_scratch);
  if (threadIdx.x == 0) {
    const double row_lse = md + log(sum);
    lse[row] = static_cast<float>(row_lse);
    const std::int32_t t = targets[row];
    loss[row] = t < 0 ? 0.0f : static_cast<float>(row_lse - static_cast<double>(l[t]));
  }
}

// dlogits may alias logits: every element is read and then written by the same thread.
__global__ void softmax_xent_backward_kernel(float* dlogits, const float* logits, const float* lse,
                                             const std::int32_t* targets, std::int64_t V, double grad_scale) {
  const std::int64_t row = blockIdx.x;
  const std::int64_t t = targets[row];
  const float* l = logits + row * V;
  float* d = dlogits + row * V;
  if (t < 0) {
    for (std::int64_t j = threadIdx.x; j < V; j += blockDim.x) d[j] = 0.0f;
    return;
  }
  const double row_lse = lse[row];
  for (std::int64_t j = threadIdx.x; j < V; j += blockDim.x) {
    const double p = exp(static_cast<double>(l[j]) - row_lse);
    d[j] = static_cast<float>(grad_scale * (j == t ? p - 1.0 : p));
  }
}

}  // namespace

void launch_softmax_xent_forward(float* loss, float* lse, const float* logits, const std::int32_t* targets,
                                 std::int64_t N, std::int64_t V, StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  MHC_CHECK(N >= 0 && V >= 1, ShapeError, "softmax_xent_forward_kernel: bad extent N = ", N, ", V = ", V);
  if (N == 0) return;
  const unsigned int blocks = grid_blocks(N, 1, "softmax_xent_forward_kernel");
  launch("softmax_xent_forward_kernel", softmax_xent_forward_kernel, blocks, kThreads, 0, stream, loss, lse, logits,
         targets, V);
}

void launch_softmax_xent_backward(float* dlogits, const float* logits, const float* lse, const std::int32_t* targets,
                                  std::int64_t N, std::int64_t V, double grad_scale, StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  MHC_CHECK(N >= 0 && V >= 0, ShapeError, "softmax_xent_backward_kernel: negative extent N = ", N, ", V = ", V);
  if (N == 0 || V == 0) return;
  const unsigned int blocks = grid_blocks(N, 1, "softmax_xent_backward_kernel");
  launch("softmax_xent_backward_kernel", softmax_xent_backward_kernel, blocks, kThreads, 0, stream, dlogits, logits,
         lse, targets, V, grad_scale);
}

}  // namespace mhc::kernels
