// Stream read-out (pre-apply) and fused write-back (post + res), forward and backward, and the one-pass x gradient.
// Elementwise kernels (the forwards and stream_mix_backward): a block covers one token and a chunk of its columns,
// holds the token's coefficients in shared memory, and each thread handles one column (or 4 with float4) of all n
// streams. Coefficient-gradient kernels: a block covers one token, its threads stride over the columns and the dot
// products over C are summed over the block in a fixed order (no atomics), so results are deterministic.
#include "kernels/stream_mix.hpp"

#include <limits>
#include <type_traits>

#include "kernels/cuda_check.cuh"
#include "kernels/launch.cuh"
#include "kernels/stream_count.cuh"

namespace mhc::kernels {

namespace {

constexpr int kMaxThreads = 256;
constexpr int kMaxWarps = kMaxThreads / 32;

__device__ __forceinline__ float axpy(float a, float x, float acc) { return fmaf(a, x, acc); }
__device__ __forceinline__ float4 axpy(float a, float4 x, float4 acc) {
  return make_float4(fmaf(a, x.x, acc.x), fmaf(a, x.y, acc.y), fmaf(a, x.z, acc.z), fmaf(a, x.w, acc.w));
}

// Explicitly rounded products and sums (never contracted to FMA): the same bits as the CPU oracle's a * x and
// acc + a * x, which the elementwise outputs of the pre-apply and of the post + res backward reproduce exactly.
__device__ __forceinline__ float mul_rn(float a, float x) { return __fmul_rn(a, x); }
__device__ __forceinline__ float4 mul_rn(float a, float4 x) {
  return make_float4(__fmul_rn(a, x.x), __fmul_rn(a, x.y), __fmul_rn(a, x.z), __fmul_rn(a, x.w));
}
__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ float4 add_rn(float4 a, float4 b) {
  return make_float4(__fadd_rn(a.x, b.x), __fadd_rn(a.y, b.y), __fadd_rn(a.z, b.z), __fadd_rn(a.w, b.w));
}

// acc + <a, b> over the floats of one V.
__device__ __forceinline__ float dot_acc(float a, float b, float acc) { return fmaf(a, b, acc); }
__device__ __forceinline__ float dot_acc(float4 a, float4 b, float acc) {
  return fmaf(a.w, b.w, fmaf(a.z, b.z, fmaf(a.y, b.y, fmaf(a.x, b.x, acc))));
}

// Sums v[m] (m < M) over all threads of the block (blockDim.x a multiple of 32, at most kMaxThreads): a butterfly
// within each warp, then the warp totals in warp order by thread m. Every thread of the block must call it.
// Returns true in threads m < M, which hold the block total of v[m] in `total`.
template <int M>
__device__ __forceinline__ bool block_sum(float (&v)[M], float* warp_totals /* [kMaxWarps * M] */, float& total) {
#pragma unroll
  for (int m = 0; m < M; ++m) {
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) v[m] += __shfl_xor_sync(0xffffffffu, v[m], offset);
  }
  const int warp = threadIdx.x / 32, warps = blockDim.x / 32;
  if (threadIdx.x % 32 == 0) {
#pragma unroll
    for (int m = 0; m < M; ++m) warp_totals[warp * M + m] = v[m];
  }
  __syncthreads();
  if (static_cast<int>(threadIdx.x) >= M) return false;
  total = warp_totals[threadIdx.x];
  for (int w = 1; w < warps; ++w) total += warp_totals[w * M + threadIdx.x];
  return true;
}

// V = float or float4; Cv = C / (floats per V): the row length in V units. Block b covers token b / chunks and
// columns [(b % chunks) * blockDim.x, + blockDim.x).
template <int n, typename V>
__global__ void __launch_bounds__(kMaxThreads)
    stream_post_res_forward_kernel(V* __restrict__ x_out, const V* __restrict__ x, const V* __restrict__ y,
                                   const float* __restrict__ h_res, const float* __restrict__ h_post, std::int64_t Cv,
                                   unsigned int chunks) {
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

// u[c] = ((h0 x0[c] + h1 x1[c]) + h2 x2[c]) + ...: the CPU oracle's order and rounding. Grid as above.
template <int n, typename V>
__global__ void __launch_bounds__(kMaxThreads)
    stream_pre_apply_forward_kernel(V* __restrict__ u, const V* __restrict__ x, const float* __restrict__ h_pre,
                                    std::int64_t Cv, unsigned int chunks) {
  __shared__ float coef[n];
  const std::int64_t t = blockIdx.x / chunks;
  const std::int64_t c = static_cast<std::int64_t>(blockIdx.x % chunks) * blockDim.x + threadIdx.x;
  for (int k = threadIdx.x; k < n; k += blockDim.x) coef[k] = h_pre[t * n + k];
  __syncthreads();
  if (c >= Cv) return;

  const V* xt = x + t * n * Cv;
  V acc = mul_rn(coef[0], xt[c]);
#pragma unroll
  for (int i = 1; i < n; ++i) acc = add_rn(acc, mul_rn(coef[i], xt[i * Cv + c]));
  u[t * Cv + c] = acc;
}

// Block t: dh_pre[i] = <x[i], du> (block sum).
template <int n, typename V>
__global__ void __launch_bounds__(kMaxThreads)
    stream_pre_apply_backward_kernel(float* dh_pre, const V* du, const V* x, std::int64_t Cv) {
  __shared__ float warp_totals[kMaxWarps * n];
  const std::int64_t t = blockIdx.x;
  float dot[n];
#pragma unroll
  for (int i = 0; i < n; ++i) dot[i] = 0.0f;
  for (std::int64_t c = threadIdx.x; c < Cv; c += blockDim.x) {
    const V g = du[t * Cv + c];
#pragma unroll
    for (int i = 0; i < n; ++i) dot[i] = dot_acc(x[(t * n + i) * Cv + c], g, dot[i]);
  }
  float total;
  if (block_sum<n>(dot, warp_totals, total)) dh_pre[t * n + threadIdx.x] = total;
}

// Block t: dy = sum_i h_post[i] g[i] (the CPU's order and rounding: i ascending, explicitly rounded),
// dh_res[i, j] = <g[i], x[j]>, dh_post[i] = <g[i], y> (block sums); g = dx_out. dy null: no dy; dh_res null: no
// coefficient gradients.
template <int n, typename V>
__global__ void __launch_bounds__(kMaxThreads)
    stream_post_res_backward_kernel(V* dy, float* dh_res, float* dh_post, const V* g, const V* x, const V* y,
                                    const float* h_post, std::int64_t Cv) {
  constexpr int M = n * n + n;  // dh_res row-major, then dh_post
  __shared__ float coef[n];     // h_post
  __shared__ float warp_totals[kMaxWarps * M];
  const std::int64_t t = blockIdx.x;
  for (int k = threadIdx.x; k < n; k += blockDim.x) coef[k] = h_post[t * n + k];
  __syncthreads();

  float dot[M];
#pragma unroll
  for (int m = 0; m < M; ++m) dot[m] = 0.0f;
  for (std::int64_t c = threadIdx.x; c < Cv; c += blockDim.x) {
    V gv[n], xv[n];
#pragma unroll
    for (int i = 0; i < n; ++i) {
      gv[i] = g[(t * n + i) * Cv + c];
      xv[i] = x[(t * n + i) * Cv + c];
    }
    if (dy != nullptr) {
      V acc = mul_rn(coef[0], gv[0]);
#pragma unroll
      for (int i = 1; i < n; ++i) acc = add_rn(acc, mul_rn(coef[i], gv[i]));
      dy[t * Cv + c] = acc;
    }
    if (dh_res == nullptr) continue;
    const V yv = y[t * Cv + c];
#pragma unroll
    for (int i = 0; i < n; ++i) {
#pragma unroll
      for (int j = 0; j < n; ++j) dot[i * n + j] = dot_acc(gv[i], xv[j], dot[i * n + j]);
      dot[n * n + i] = dot_acc(gv[i], yv, dot[n * n + i]);
    }
  }
  if (dh_res == nullptr) return;  // the same for the whole block
  float total;
  if (block_sum<M>(dot, warp_totals, total)) {
    if (static_cast<int>(threadIdx.x) < n * n)
      dh_res[t * (n * n) + threadIdx.x] = total;
    else
      dh_post[t * n + (threadIdx.x - n * n)] = total;
  }
}

// dx[j] += ((sum_i h_res[i, j] g[i] + h_pre[j] du) + x_coef x[j]) in the CPU's order and rounding (i ascending,
// explicitly rounded); the x term only when kXTerm. Grid as the forward kernels; g = dx_out.
template <int n, bool kXTerm, typename V>
__global__ void __launch_bounds__(kMaxThreads)
    stream_mix_backward_kernel(V* dx, const V* g, const V* du, const float* h_res, const float* h_pre, const V* x,
                               const float* x_coef, std::int64_t Cv, unsigned int chunks) {
  __shared__ float coef[n * n + n + 1];  // h_res row-major, h_pre, x_coef
  const std::int64_t t = blockIdx.x / chunks;
  const std::int64_t c = static_cast<std::int64_t>(blockIdx.x % chunks) * blockDim.x + threadIdx.x;
  for (int k = threadIdx.x; k < n * n + n + 1; k += blockDim.x) {
    if (k < n * n)
      coef[k] = h_res[t * (n * n) + k];
    else if (k < n * n + n)
      coef[k] = h_pre[t * n + (k - n * n)];
    else
      coef[k] = kXTerm ? x_coef[t] : 0.0f;
  }
  __syncthreads();
  if (c >= Cv) return;

  V gv[n];
#pragma unroll
  for (int i = 0; i < n; ++i) gv[i] = g[(t * n + i) * Cv + c];
  const V duv = du[t * Cv + c];
#pragma unroll
  for (int j = 0; j < n; ++j) {
    V acc = mul_rn(coef[j], gv[0]);
#pragma unroll
    for (int i = 1; i < n; ++i) acc = add_rn(acc, mul_rn(coef[i * n + j], gv[i]));
    acc = add_rn(acc, mul_rn(coef[n * n + j], duv));
    const std::int64_t k = (t * n + j) * Cv + c;
    if constexpr (kXTerm) acc = add_rn(acc, mul_rn(coef[n * n + n], x[k]));
    dx[k] = add_rn(dx[k], acc);
  }
}

void check_extents(const char* kernel, std::int64_t N, int n, std::int64_t C) {
  MHC_CHECK(n >= 1 && n <= 8, ShapeError, kernel, ": n = ", n, " outside [1, 8]");
  MHC_CHECK(N >= 0 && C >= 0, ShapeError, kernel, ": negative extent N = ", N, ", C = ", C);
}

// Launch shape of the forward kernels: threads per block over Cv columns, and blocks = N * chunks.
struct ChunkGrid {
  int threads;
  unsigned int chunks, blocks;
};

ChunkGrid chunk_grid(std::int64_t N, std::int64_t Cv, const char* kernel) {
  const int threads = static_cast<int>(Cv >= kMaxThreads ? kMaxThreads : (Cv + 31) / 32 * 32);
  const std::int64_t chunks = (Cv + threads - 1) / threads;
  MHC_CHECK(N <= std::numeric_limits<int>::max() / chunks, ShapeError, kernel, ": N = ", N, " tokens of ", chunks,
            " blocks do not fit a 1-D grid");
  return {threads, static_cast<unsigned int>(chunks), grid_blocks(N * chunks, 1, kernel)};
}

// Threads of the one-block-per-token backward kernels: whole warps, at most kMaxThreads.
unsigned int token_block_threads(std::int64_t Cv) {
  return static_cast<unsigned int>(Cv >= kMaxThreads ? kMaxThreads : (Cv + 31) / 32 * 32);
}

template <typename V, typename T>
V* as(T* p) {
  return reinterpret_cast<V*>(p);
}

}  // namespace

void launch_stream_post_res_forward(float* x_out, const float* x, const float* y, const float* h_res,
                                    const float* h_post, std::int64_t N, int n, std::int64_t C,
                                    StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  const char* kernel = "stream_post_res_forward_kernel";
  check_extents(kernel, N, n, C);
  if (N == 0 || C == 0) return;
  const bool vec4 = C % 4 == 0 && aligned16(x_out) && aligned16(x) && aligned16(y);
  const std::int64_t Cv = vec4 ? C / 4 : C;
  const ChunkGrid g = chunk_grid(N, Cv, kernel);
  with_stream_count(n, [&](auto kn) {
    constexpr int kN = decltype(kn)::value;
    if (vec4) {
      launch(kernel, stream_post_res_forward_kernel<kN, float4>, g.blocks, g.threads, 0, stream, as<float4>(x_out),
             as<const float4>(x), as<const float4>(y), h_res, h_post, Cv, g.chunks);
    } else {
      launch(kernel, stream_post_res_forward_kernel<kN, float>, g.blocks, g.threads, 0, stream, x_out, x, y, h_res,
             h_post, Cv, g.chunks);
    }
  });
}

void launch_stream_pre_apply_forward(float* u, const float* x, const float* h_pre, std::int64_t N, int n,
                                     std::int64_t C, StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  const char* kernel = "stream_pre_apply_forward_kernel";
  check_extents(kernel, N, n, C);
  if (N == 0 || C == 0) return;
  const bool vec4 = C % 4 == 0 && aligned16(u) && aligned16(x);
  const std::int64_t Cv = vec4 ? C / 4 : C;
  const ChunkGrid g = chunk_grid(N, Cv, kernel);
  with_stream_count(n, [&](auto kn) {
    constexpr int kN = decltype(kn)::value;
    if (vec4) {
      launch(kernel, stream_pre_apply_forward_kernel<kN, float4>, g.blocks, g.threads, 0, stream, as<float4>(u),
             as<const float4>(x), h_pre, Cv, g.chunks);
    } else {
      launch(kernel, stream_pre_apply_forward_kernel<kN, float>, g.blocks, g.threads, 0, stream, u, x, h_pre, Cv,
             g.chunks);
    }
  });
}

void launch_stream_pre_apply_backward(float* dh_pre, const float* du, const float* x, std::int64_t N, int n,
                                      std::int64_t C, StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  const char* kernel = "stream_pre_apply_backward_kernel";
  check_extents(kernel, N, n, C);
  if (N == 0) return;
  // C == 0 still writes dh_pre = 0 (empty sums); Cv = 0 gives one warp and no column iterations.
  const bool vec4 = C % 4 == 0 && aligned16(du) && aligned16(x);
  const std::int64_t Cv = vec4 ? C / 4 : C;
  const unsigned int threads = Cv == 0 ? 32 : token_block_threads(Cv);
  const unsigned int blocks = grid_blocks(N, 1, kernel);
  with_stream_count(n, [&](auto kn) {
    constexpr int kN = decltype(kn)::value;
    if (vec4) {
      launch(kernel, stream_pre_apply_backward_kernel<kN, float4>, blocks, threads, 0, stream, dh_pre,
             as<const float4>(du), as<const float4>(x), Cv);
    } else {
      launch(kernel, stream_pre_apply_backward_kernel<kN, float>, blocks, threads, 0, stream, dh_pre, du, x, Cv);
    }
  });
}

void launch_stream_post_res_backward(float* dy, float* dh_res, float* dh_post, const float* dx_out, const float* x,
                                     const float* y, const float* h_post, std::int64_t N, int n, std::int64_t C,
                                     StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  const char* kernel = "stream_post_res_backward_kernel";
  check_extents(kernel, N, n, C);
  if (N == 0) return;
  const bool vec4 = C % 4 == 0 && aligned16(dy) && aligned16(dx_out) && aligned16(x) && aligned16(y);
  const std::int64_t Cv = vec4 ? C / 4 : C;
  // At least n^2 + n threads: thread m writes coefficient gradient m (n = 8: 72 of them).
  unsigned int threads = Cv == 0 ? 32 : token_block_threads(Cv);
  const unsigned int needed = static_cast<unsigned int>((n * n + n + 31) / 32 * 32);
  if (threads < needed) threads = needed;
  const unsigned int blocks = grid_blocks(N, 1, kernel);
  with_stream_count(n, [&](auto kn) {
    constexpr int kN = decltype(kn)::value;
    if (vec4) {
      launch(kernel, stream_post_res_backward_kernel<kN, float4>, blocks, threads, 0, stream, as<float4>(dy), dh_res,
             dh_post, as<const float4>(dx_out), as<const float4>(x), as<const float4>(y), h_post, Cv);
    } else {
      launch(kernel, stream_post_res_backward_kernel<kN, float>, blocks, threads, 0, stream, dy, dh_res, dh_post,
             dx_out, x, y, h_post, Cv);
    }
  });
}

void launch_stream_mix_backward(float* dx, const float* dx_out, const float* du, const float* h_res,
                                const float* h_pre, const float* x, const float* x_coef, std::int64_t N, int n,
                                std::int64_t C, StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  const char* kernel = "stream_mix_backward_kernel";
  check_extents(kernel, N, n, C);
  if (N == 0 || C == 0) return;
  const bool vec4 = C % 4 == 0 && aligned16(dx) && aligned16(dx_out) && aligned16(du) && aligned16(x);
  const std::int64_t Cv = vec4 ? C / 4 : C;
  const ChunkGrid g = chunk_grid(N, Cv, kernel);
  with_stream_count(n, [&](auto kn) {
    constexpr int kN = decltype(kn)::value;
    const auto run = [&](auto x_term) {
      constexpr bool kX = decltype(x_term)::value;
      if (vec4) {
        launch(kernel, stream_mix_backward_kernel<kN, kX, float4>, g.blocks, g.threads, 0, stream, as<float4>(dx),
               as<const float4>(dx_out), as<const float4>(du), h_res, h_pre, as<const float4>(x), x_coef, Cv,
               g.chunks);
      } else {
        launch(kernel, stream_mix_backward_kernel<kN, kX, float>, g.blocks, g.threads, 0, stream, dx, dx_out, du,
               h_res, h_pre, x, x_coef, Cv, g.chunks);
      }
    };
    if (x_coef != nullptr)
      run(std::true_type{});
    else
      run(std::false_type{});
  });
}

}  // namespace mhc::kernels
