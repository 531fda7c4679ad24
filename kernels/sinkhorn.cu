// Sinkhorn-Knopp forward and backward: one thread per token. The forward keeps the n x n matrix in registers (n a
// template parameter so the loops unroll) and stages its block's logits through shared memory so global loads and
// stores coalesce; the backward recomputes the 2 iters + 1 iterates into shared memory, then walks them back.
#include "kernels/sinkhorn.hpp"

#include "kernels/cuda_calls.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/launch.cuh"
#include "kernels/sinkhorn_device.cuh"
#include "kernels/stream_count.cuh"

namespace mhc::kernels {

namespace {

constexpr int kTokensPerBlock = 128;

template <int n>
__global__ void __launch_bounds__(kTokensPerBlock)
    sinkhorn_forward_kernel(float* __restrict__ h, const float* __restrict__ logits, std::int64_t N, int iters) {
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
#pragma unroll
    for (int k = 0; k < nn; ++k) m[k] = mine[k];
    sinkhorn_in_registers<n>(m, iters);
#pragma unroll
    for (int k = 0; k < nn; ++k) mine[k] = m[k];
  }
  __syncthreads();

  float* dst = h + first * nn;
  for (int k = threadIdx.x; k < tokens * nn; k += blockDim.x) dst[k] = tile[(k / nn) * pitch + k % nn];
}

// Backward of one normalisation y = m / (sum + eps) along rows (kRows) or columns, in place on the gradient g:
// g <- (g - sum(g * y)) / (sum(m) + eps) along the normalised axis. m is the step's input iterate and y its output,
// both read from this thread's shared-memory column (element k at [k * stride]). The operations and their order
// are those of the CPU oracle; the products are rounded explicitly so that no FMA contraction changes the bits.
template <int n, bool kRows>
__device__ __forceinline__ void normalise_backward(float (&g)[n * n], const float* y, const float* m, int stride) {
#pragma unroll
  for (int a = 0; a < n; ++a) {
    float sum = 0.0f, dot = 0.0f;
#pragma unroll
    for (int b = 0; b < n; ++b) {
      const int k = kRows ? a * n + b : b * n + a;
      sum += m[k * stride];
      dot = __fadd_rn(dot, __fmul_rn(g[k], y[k * stride]));
    }
    const float denom = sum + kSinkhornEpsF;
#pragma unroll
    for (int b = 0; b < n; ++b) {
      const int k = kRows ? a * n + b : b * n + a;
      g[k] = (g[k] - dot) / denom;
    }
  }
}

// Thread i of the block handles token blockIdx.x * blockDim.x + i. Its iterates live in dynamic shared memory:
// element k of iterate q at its[(q * nn + k) * blockDim.x + i] (consecutive threads in consecutive banks).
// Iterate 0 = exp(logits - max), 2 it + 1 = after the column step of iteration it, 2 it + 2 = after its row step.
template <int n>
__global__ void __launch_bounds__(kTokensPerBlock)
    sinkhorn_backward_kernel(float* __restrict__ dlogits, const float* __restrict__ dh,
                             const float* __restrict__ logits, std::int64_t N, int iters) {
  constexpr int nn = n * n;
  MHC_DYNAMIC_SHARED(float, its);
  const std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= N) return;  // no barriers below: every thread works in its own shared-memory column
  const int stride = static_cast<int>(blockDim.x);
  float* mine = its + threadIdx.x;
  const auto iterate = [&](int q) { return mine + q * nn * stride; };

  float m[nn];
#pragma unroll
  for (int k = 0; k < nn; ++k) m[k] = logits[t * nn + k];
  float max;
  const int best = sinkhorn_argmax<nn>(m, max);
#pragma unroll
  for (int k = 0; k < nn; ++k) {
    m[k] = expf(m[k] - max);
    iterate(0)[k * stride] = m[k];
  }
  for (int it = 0; it < iters; ++it) {
    sinkhorn_normalise_columns<n>(m);
#pragma unroll
    for (int k = 0; k < nn; ++k) iterate(2 * it + 1)[k * stride] = m[k];
    sinkhorn_normalise_rows<n>(m);
#pragma unroll
    for (int k = 0; k < nn; ++k) iterate(2 * it + 2)[k * stride] = m[k];
  }

  float g[nn];
#pragma unroll
  for (int k = 0; k < nn; ++k) g[k] = dh[t * nn + k];
  for (int it = iters - 1; it >= 0; --it) {
    normalise_backward<n, true>(g, iterate(2 * it + 2), iterate(2 * it + 1), stride);
    normalise_backward<n, false>(g, iterate(2 * it + 1), iterate(2 * it), stride);
  }
  // Through M = exp(l - max l): dl = dM * M, and the max (the first argmax) gets -sum(dM * M).
  float shift_grad = 0.0f;
#pragma unroll
  for (int k = 0; k < nn; ++k) {
    g[k] = __fmul_rn(g[k], iterate(0)[k * stride]);
    shift_grad += g[k];
  }
#pragma unroll
  for (int k = 0; k < nn; ++k) dlogits[t * nn + k] = k == best ? g[k] - shift_grad : g[k];
}

template <int n>
void forward_for(float* h, const float* logits, std::int64_t N, int iters, unsigned int blocks, cudaStream_t stream) {
  launch("sinkhorn_forward_kernel", sinkhorn_forward_kernel<n>, blocks, kTokensPerBlock, 0, stream, h, logits, N,
         iters);
}

// Shared memory that the backward kernel may use per block without opting in.
constexpr std::int64_t kDefaultSharedBytes = 48 * 1024;

template <int n>
void backward_for(float* dlogits, const float* dh, const float* logits, std::int64_t N, int iters,
                  cudaStream_t stream) {
  const std::int64_t per_token = (2 * static_cast<std::int64_t>(iters) + 1) * n * n * sizeof(float);
  std::int64_t budget = kDefaultSharedBytes;
  if (per_token > budget) {  // long Sinkhorn runs: opt in to the device's larger per-block limit
    int device = 0, optin = 0;
    check_cuda(cudaGetDevice(&device), "sinkhorn_backward_kernel: cudaGetDevice");
    check_cuda(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
               "sinkhorn_backward_kernel: cudaDeviceGetAttribute");
    budget = optin;
    MHC_CHECK(per_token <= budget, ShapeError, "sinkhorn_backward_kernel: iters = ", iters, " with n = ", n, " needs ",
              per_token, " bytes of shared memory per token, more than the device's ", budget);
  }
  std::int64_t threads = budget / per_token;
  if (threads > kTokensPerBlock) threads = kTokensPerBlock;
  if (threads >= 32) threads -= threads % 32;  // whole warps where the budget allows
  const std::int64_t bytes = threads * per_token;
  if (bytes > kDefaultSharedBytes) {
    check_cuda(cudaFuncSetAttribute(sinkhorn_backward_kernel<n>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(bytes)),
               "sinkhorn_backward_kernel: cudaFuncSetAttribute");
  }
  const unsigned int blocks = grid_blocks(N, threads, "sinkhorn_backward_kernel");
  launch("sinkhorn_backward_kernel", sinkhorn_backward_kernel<n>, blocks, static_cast<unsigned int>(threads),
         static_cast<std::size_t>(bytes), stream, dlogits, dh, logits, N, iters);
}

void check_args(const char* kernel, std::int64_t N, int n, int iters) {
  MHC_CHECK(n >= 1 && n <= 8, ShapeError, kernel, ": n = ", n, " outside [1, 8]");
  MHC_CHECK(iters >= 1, ShapeError, kernel, ": iters must be >= 1, got ", iters);
  MHC_CHECK(N >= 0, ShapeError, kernel, ": negative token count ", N);
}

}  // namespace

void launch_sinkhorn_forward(float* h, const float* logits, std::int64_t N, int n, int iters,
                             StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  check_args("sinkhorn_forward_kernel", N, n, iters);
  if (N == 0) return;
  const unsigned int blocks = grid_blocks(N, kTokensPerBlock, "sinkhorn_forward_kernel");
  with_stream_count(n, [&](auto kn) { forward_for<decltype(kn)::value>(h, logits, N, iters, blocks, stream); });
}

void launch_sinkhorn_backward(float* dlogits, const float* dh, const float* logits, std::int64_t N, int n, int iters,
                              StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  check_args("sinkhorn_backward_kernel", N, n, iters);
  if (N == 0) return;
  with_stream_count(n, [&](auto kn) { backward_for<decltype(kn)::value>(dlogits, dh, logits, N, iters, stream); });
}

}  // namespace mhc::kernels
