// Sinkhorn-Knopp forward: one thread per token with its n x n matrix in registers (n a template parameter so the
// loops unroll); a block stages its tokens' logits through shared memory so global loads and stores coalesce.
#include "kernels/sinkhorn.cuh"

#include "kernels/cuda_check.cuh"
#include "ops/sinkhorn.hpp"

namespace mhc::kernels {

namespace {

constexpr int kTokensPerBlock = 128;
constexpr float kEps = static_cast<float>(ops::kSinkhornEps);

template <int n>
__global__ void sinkhorn_forward_kernel(float* __restrict__ h, const float* __restrict__ logits, std::int64_t N,
                                        int iters) {
  constexpr int nn = n * n;
  constexpr int pitch = nn | 1;  // odd row pitch in shared memory: thread k's matrix starts in bank (k * pitch) % 32
  __shared__ float tile[kTokensPerBlock * pitch];

  const std::int64_t first = static_cast<std::int64_t>(blockIdx.x) * kTokensPerBlock;
  const int tokens = static_cast<int>(N - first < kTokensPerBlock ? N - first : kTokensPerBlock);
  const float* src = logits + first * nn;
  for (int k = threadIdx.x; k < tokens * nn; k += blockDim.x) tile[(k / nn) * pitch + k % nn] = src[k];
  __syncthreads();

  if (static_cast<int>(threadIdx.x) < tokens) {
    float* mine = tile + threadIdx.x * pitch;
    float m[nn];
    float max = mine[0];
#pragma unroll
    for (int k = 0; k < nn; ++k) {
      m[k] = mine[k];
      max = fmaxf(max, m[k]);
    }
#pragma unroll
    for (int k = 0; k < nn; ++k) m[k] = expf(m[k] - max);
    // Same summation order as the CPU oracle: i (or j) ascending from 0, then + eps, then an IEEE division.
    for (int it = 0; it < iters; ++it) {
#pragma unroll
      for (int j = 0; j < n; ++j) {
        float sum = 0.0f;
#pragma unroll
        for (int i = 0; i < n; ++i) sum += m[i * n + j];
        const float denom = sum + kEps;
#pragma unroll
        for (int i = 0; i < n; ++i) m[i * n + j] /= denom;
      }
#pragma unroll
      for (int i = 0; i < n; ++i) {
        float sum = 0.0f;
#pragma unroll
        for (int j = 0; j < n; ++j) sum += m[i * n + j];
        const float denom = sum + kEps;
#pragma unroll
        for (int j = 0; j < n; ++j) m[i * n + j] /= denom;
      }
    }
#pragma unroll
    for (int k = 0; k < nn; ++k) mine[k] = m[k];
  }
  __syncthreads();

  float* dst = h + first * nn;
  for (int k = threadIdx.x; k < tokens * nn; k += blockDim.x) dst[k] = tile[(k / nn) * pitch + k % nn];
}

template <int n>
void launch_for(float* h, const float* logits, std::int64_t N, int iters, unsigned int blocks, cudaStream_t stream) {
  sinkhorn_forward_kernel<n><<<blocks, kTokensPerBlock, 0, stream>>>(h, logits, N, iters);
}

}  // namespace

void launch_sinkhorn_forward(float* h, const float* logits, std::int64_t N, int n, int iters, cudaStream_t stream) {
  MHC_CHECK(n >= 1 && n <= 8, ShapeError, "sinkhorn_forward_kernel: n = ", n, " outside [1, 8]");
  MHC_CHECK(iters >= 1, ShapeError, "sinkhorn_forward_kernel: iters must be >= 1, got ", iters);
  MHC_CHECK(N >= 0, ShapeError, "sinkhorn_forward_kernel: negative token count ", N);
  if (N == 0) return;
  const unsigned int blocks = grid_blocks(N, kTokensPerBlock, "sinkhorn_forward_kernel");
  switch (n) {
    case 1: launch_for<1>(h, logits, N, iters, blocks, stream); break;
    case 2: launch_for<2>(h, logits, N, iters, blocks, stream); break;
    case 3: launch_for<3>(h, logits, N, iters, blocks, stream); break;
    case 4: launch_for<4>(h, logits, N, iters, blocks, stream); break;
    case 5: launch_for<5>(h, logits, N, iters, blocks, stream); break;
    case 6: launch_for<6>(h, logits, N, iters, blocks, stream); break;
    case 7: launch_for<7>(h, logits, N, iters, blocks, stream); break;
    default: launch_for<8>(h, logits, N, iters, blocks, stream); break;
  }
  check_launch("sinkhorn_forward_kernel");
}

}  // namespace mhc::kernels
