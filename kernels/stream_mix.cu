// Fused post + res stream mixing: a block covers one token and a chunk of its columns, holds the token's
// n x n + n coefficients in shared memory, and each thread mixes one column (or 4 with float4) of all n streams.
#include "kernels/stream_mix.cuh"

#include <limits>

#include "kernels/cuda_check.cuh"

namespace mhc::kernels {

namespace {

constexpr int kMaxThreads = 256;

__device__ __forceinline__ float axpy(float a, float x, float acc) { return fmaf(a, x, acc); }
__device__ __forceinline__ float4 axpy(float a, float4 x, float4 acc) {
  return make_float4(fmaf(a, x.x, acc.x), fmaf(a, x.y, acc.y), fmaf(a, x.z, acc.z), fmaf(a, x.w, acc.w));
}

// V = float or float4; Cv = C / (floats per V): the row length in V units. Block b covers token b / chunks and
// columns [(b % chunks) * blockDim.x, + blockDim.x).
template <int n, typename V>
__global__ void stream_post_res_forward_kernel(V* __restrict__ x_out, const V* __restrict__ x,
                                               const V* __restrict__ y, const float* __restrict__ h_res,
                                               const float* __restrict__ h_post, std::int64_t Cv, unsigned int chunks) {
  __shared__ float coef[n * n + n];  // h_res row-major, then h_post
  const std::int64_t t = blockIdx.x / chunks;
  const std::int64_t c = static_cast<std::int64_t>(blockIdx.x % chunks) * blockDim.x + threadIdx.x;
  for (int k = threadIdx.x; k < n * n + n; k += blockDim.x)
    coef[k] = k < n * n ? h_res[t * (n * n) + k] : h_post[t * n + (k - n * n)];
  __syncthreads();
  if (c >= Cv) return;

  const V* xt = x + t * n * Cv;
  V xs[n];
#pragma unroll
  for (int j = 0; j < n; ++j) xs[j] = xt[j * Cv + c];
  const V yc = y[t * Cv + c];
  V* out = x_out + t * n * Cv;
#pragma unroll
  for (int i = 0; i < n; ++i) {
    V acc{};
#pragma unroll
    for (int j = 0; j < n; ++j) acc = axpy(coef[i * n + j], xs[j], acc);
    out[i * Cv + c] = axpy(coef[n * n + i], yc, acc);
  }
}

template <int n>
void launch_for(bool vec4, float* x_out, const float* x, const float* y, const float* h_res, const float* h_post,
                std::int64_t Cv, unsigned int blocks, int threads, unsigned int chunks, cudaStream_t stream) {
  if (vec4) {
    stream_post_res_forward_kernel<n, float4><<<blocks, threads, 0, stream>>>(
        reinterpret_cast<float4*>(x_out), reinterpret_cast<const float4*>(x), reinterpret_cast<const float4*>(y),
        h_res, h_post, Cv, chunks);
  } else {
    stream_post_res_forward_kernel<n, float><<<blocks, threads, 0, stream>>>(x_out, x, y, h_res, h_post, Cv, chunks);
  }
}

}  // namespace

void launch_stream_post_res_forward(float* x_out, const float* x, const float* y, const float* h_res,
                                    const float* h_post, std::int64_t N, int n, std::int64_t C, cudaStream_t stream) {
  MHC_CHECK(n >= 1 && n <= 8, ShapeError, "stream_post_res_forward_kernel: n = ", n, " outside [1, 8]");
  MHC_CHECK(N >= 0 && C >= 0, ShapeError, "stream_post_res_forward_kernel: negative extent N = ", N, ", C = ", C);
  if (N == 0 || C == 0) return;
  const bool vec4 = C % 4 == 0 && aligned16(x_out) && aligned16(x) && aligned16(y);
  const std::int64_t Cv = vec4 ? C / 4 : C;
  const int threads = static_cast<int>(Cv >= kMaxThreads ? kMaxThreads : (Cv + 31) / 32 * 32);
  const std::int64_t chunks = (Cv + threads - 1) / threads;
  MHC_CHECK(N <= std::numeric_limits<int>::max() / chunks, ShapeError, "stream_post_res_forward_kernel: N = ", N,
            " tokens of ", chunks, " blocks do not fit a 1-D grid");
  const unsigned int blocks = grid_blocks(N * chunks, 1, "stream_post_res_forward_kernel");
  const auto chunks_u = static_cast<unsigned int>(chunks);
  switch (n) {
    case 1: launch_for<1>(vec4, x_out, x, y, h_res, h_post, Cv, blocks, threads, chunks_u, stream); break;
    case 2: launch_for<2>(vec4, x_out, x, y, h_res, h_post, Cv, blocks, threads, chunks_u, stream); break;
    case 3: launch_for<3>(vec4, x_out, x, y, h_res, h_post, Cv, blocks, threads, chunks_u, stream); break;
    case 4: launch_for<4>(vec4, x_out, x, y, h_res, h_post, Cv, blocks, threads, chunks_u, stream); break;
    case 5: launch_for<5>(vec4, x_out, x, y, h_res, h_post, Cv, blocks, threads, chunks_u, stream); break;
    case 6: launch_for<6>(vec4, x_out, x, y, h_res, h_post, Cv, blocks, threads, chunks_u, stream); break;
    case 7: launch_for<7>(vec4, x_out, x, y, h_res, h_post, Cv, blocks, threads, chunks_u, stream); break;
    default: launch_for<8>(vec4, x_out, x, y, h_res, h_post, Cv, blocks, threads, chunks_u, stream); break;
  }
  check_launch("stream_post_res_forward_kernel");
}

}  // namespace mhc::kernels
