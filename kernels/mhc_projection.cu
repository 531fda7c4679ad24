// mHC coefficient projection: the fused x phi + sum of squares (x read once), its input backward (phi held in
// registers) and its weight backward (per-slice partial sums, then a fixed-order reduction). Every kernel runs
// 4 warps per block, n a template parameter (K = n^2 + 2n columns, padded to Kp = whole float4 with zeros).
#include "core/device_scratch.hpp"
#include "kernels/cuda_check.cuh"
#include "kernels/launch.cuh"
#include "kernels/mhc_projection.hpp"
#include "kernels/stream_count.cuh"

#include <algorithm>
#include <limits>


namespace mhc::kernels {

namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;

// Compile-time extents for n streams.
template <int n>
struct Cols {
  static constexpr int K = n * n + 2 * n;
  static constexpr int Kp = (K + 3) / 4 * 4;
  static constexpr int kTok = Kp <= 24 ? 2 : 1;  // forward: tokens per lane (accumulators kTok * Kp)
  static constexpr int kTokens = 32 * kTok;      // forward: tokens per block
  static constexpr int kQ = Kp <= 24 ? 2 : 1;    // backward: columns of D per thread (phi or dphi rows kQ * Kp)
  static constexpr int kSpan = kThreads * kQ;    // backward: columns of D per block
};

// Forward: D is walked in chunks of kChunk columns; warp w takes the chunk's columns [w, w + 1) * kPerWarp.
constexpr int kChunk = 64;
constexpr int kPerWarp = kChunk / kWarps;
constexpr int kPitch = kChunk + 1;  // x tile row pitch: odd, so 32 lanes reading one column of 32 rows hit 32 banks
// Backward: tokens per staged tile of dproj rows.
constexpr int kInputTile = 128;
constexpr int kWeightTile = 32;
// Weight backward: aim at about this many blocks (column blocks x token slices) to fill the GPU.
constexpr std::int64_t kWeightBlocks = 1024;

// alpha_pre for k < n, alpha_post for k < 2n, alpha_res after.
__device__ __forceinline__ float column_scale(const float* alpha, int k, int n) {
  return alpha[k < n ? 0 : (k < 2 * n ? 1 : 2)];
}

// dproj = (scale_k * dtilde) * rstd, rounded as the CPU oracle's scale[k] * da * rstd.
__device__ __forceinline__ float dproj_value(const float* alpha, int k, int n, float dtilde, float rstd) {
  return __fmul_rn(__fmul_rn(column_scale(alpha, k, n), dtilde), rstd);
}

// acc[k] += a * v[k] for the four columns of one float4 of a padded row.
__device__ __forceinline__ void axpy4(float* acc, float a, float4 v) {
  acc[0] = fmaf(a, v.x, acc[0]);
  acc[1] = fmaf(a, v.y, acc[1]);
  acc[2] = fmaf(a, v.z, acc[2]);
  acc[3] = fmaf(a, v.w, acc[3]);
}

// Block b covers tokens [b * kTokens, + kTokens); lane l of every warp owns tokens l + 32 r (r < kTok) and
// accumulates, over the D columns its warp takes, the products with phi (acc) and the squares (ss). The kWarps
// partial sums are then added in warp order in shared memory.
template <int n>
__global__ void __launch_bounds__(kThreads)
    mhc_projection_forward_kernel(float* __restrict__ proj, float* __restrict__ rstd, const float* __restrict__ x,
                                  const float* __restrict__ phi, std::int64_t N, std::int64_t D, float eps, bool vec4) {
  using S = Cols<n>;
  constexpr int K = S::K, Kp = S::Kp, kTok = S::kTok, TM = S::kTokens;
  constexpr int kRedPitch = Kp + 1;  // odd
  static_assert((TM * kPitch) % 4 == 0, "the phi chunk must start 16-byte aligned");
  static_assert(TM * (kRedPitch + 1) <= TM * kPitch + kChunk * Kp, "the reduction reuses the tile memory");
  __shared__ __align__(16) float smem[TM * kPitch + kChunk * Kp];
  float* xs = smem;                // x tile: token r, chunk column c at r * kPitch + c
  float* ps = smem + TM * kPitch;  // phi chunk: chunk column c, column k at c * Kp + k

  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const std::int64_t t0 = static_cast<std::int64_t>(blockIdx.x) * TM;
  const int tokens = static_cast<int>(N - t0 < TM ? N - t0 : TM);

  float acc[kTok][Kp], ss[kTok];
#pragma unroll
  for (int r = 0; r < kTok; ++r) {
    ss[r] = 0.0f;
#pragma unroll
    for (int k = 0; k < Kp; ++k) acc[r][k] = 0.0f;
  }

  for (std::int64_t d0 = 0; d0 < D; d0 += kChunk) {
    // Stage the tile (zeros past the last token and past D, which add nothing).
    if (vec4) {
      constexpr int kVecs = kChunk / 4;
      for (int f = threadIdx.x; f < TM * kVecs; f += kThreads) {
        const int r = f / kVecs, c = (f % kVecs) * 4;
        float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (r < tokens && d0 + c < D) v = *reinterpret_cast<const float4*>(x + (t0 + r) * D + d0 + c);
        float* dst = xs + r * kPitch + c;
        dst[0] = v.x;
        dst[1] = v.y;
        dst[2] = v.z;
        dst[3] = v.w;
      }
    } else {
      for (int e = threadIdx.x; e < TM * kChunk; e += kThreads) {
        const int r = e / kChunk, c = e % kChunk;
        xs[r * kPitch + c] = r < tokens && d0 + c < D ? x[(t0 + r) * D + d0 + c] : 0.0f;
      }
    }
    for (int e = threadIdx.x; e < kChunk * Kp; e += kThreads) {
      const int c = e / Kp, k = e % Kp;
      ps[e] = k < K && d0 + c < D ? phi[(d0 + c) * K + k] : 0.0f;
    }
    __syncthreads();

#pragma unroll 4
    for (int cc = 0; cc < kPerWarp; ++cc) {
      const int c = warp * kPerWarp + cc;
      float xv[kTok];
#pragma unroll
      for (int r = 0; r < kTok; ++r) {
        xv[r] = xs[(lane + 32 * r) * kPitch + c];
        ss[r] = fmaf(xv[r], xv[r], ss[r]);
      }
      const float4* p4 = reinterpret_cast<const float4*>(ps + c * Kp);  // the same address in every lane
#pragma unroll
      for (int q = 0; q < Kp / 4; ++q) {
        const float4 p = p4[q];
#pragma unroll
        for (int r = 0; r < kTok; ++r) axpy4(&acc[r][4 * q], xv[r], p);
      }
    }
    __syncthreads();
  }

  // Warp partials added in warp order 0, 1, ... (the tiles are free after the loop's last barrier).
  float* red = smem;                      // token r, column k at r * kRedPitch + k
  float* red_ss = smem + TM * kRedPitch;  // token r at r
  for (int w = 0; w < kWarps; ++w) {
    if (warp == w) {
#pragma unroll
      for (int r = 0; r < kTok; ++r) {
        const int row = lane + 32 * r;
#pragma unroll
        for (int k = 0; k < Kp; ++k)
          red[row * kRedPitch + k] = w == 0 ? acc[r][k] : red[row * kRedPitch + k] + acc[r][k];
        red_ss[row] = w == 0 ? ss[r] : red_ss[row] + ss[r];
      }
    }
    __syncthreads();
  }
  for (int e = threadIdx.x; e < tokens * K; e += kThreads) proj[t0 * K + e] = red[(e / K) * kRedPitch + e % K];
  // As the CPU: 1 / sqrt(sum / D + eps), each step IEEE-rounded.
  for (int r = threadIdx.x; r < tokens; r += kThreads)
    rstd[t0 + r] = 1.0f / sqrtf(red_ss[r] / static_cast<float>(D) + eps);
}

// Columns d[q] = blockIdx % d_blocks * kSpan + q * kThreads + threadIdx.x of D (phi rows in registers), tokens
// [tile * kInputTile, + kInputTile) with tile = blockIdx / d_blocks. Per token: dx[d] = <dproj, phi[d]>; the blocks
// of column block 0 also write x_coef = -drstd rstd^3 / D with drstd = sum_k (scale_k dtilde_k) proj_k (k ascending,
// as the CPU).
template <int n>
__global__ void __launch_bounds__(kThreads)
    mhc_projection_backward_input_kernel(float* __restrict__ dx, float* __restrict__ x_coef,
                                         const float* __restrict__ dtilde, const float* __restrict__ proj,
                                         const float* __restrict__ rstd, const float* __restrict__ alpha,
                                         const float* __restrict__ phi, std::int64_t N, std::int64_t D,
                                         unsigned int d_blocks) {
  using S = Cols<n>;
  constexpr int K = S::K, Kp = S::Kp, kQ = S::kQ;
  __shared__ __align__(16) float dp[kInputTile * Kp];  // token r, column k at r * Kp + k (zero padded)
  const unsigned int db = blockIdx.x % d_blocks;
  const std::int64_t t0 = static_cast<std::int64_t>(blockIdx.x / d_blocks) * kInputTile;
  const int tokens = static_cast<int>(N - t0 < kInputTile ? N - t0 : kInputTile);

  std::int64_t d[kQ];
  float ph[kQ][Kp];
#pragma unroll
  for (int q = 0; q < kQ; ++q) {
    d[q] = static_cast<std::int64_t>(db) * S::kSpan + q * kThreads + threadIdx.x;
#pragma unroll
    for (int k = 0; k < Kp; ++k) ph[q][k] = k < K && d[q] < D ? phi[d[q] * K + k] : 0.0f;
  }
  for (int e = threadIdx.x; e < tokens * Kp; e += kThreads) {
    const int r = e / Kp, k = e % Kp;
    dp[e] = k < K ? dproj_value(alpha, k, n, dtilde[(t0 + r) * K + k], rstd[t0 + r]) : 0.0f;
  }
  if (db == 0) {
    for (int r = threadIdx.x; r < tokens; r += kThreads) {  // kInputTile <= kThreads: one pass
      const std::int64_t row = (t0 + r) * K;
      float drstd = 0.0f;
      for (int k = 0; k < K; ++k)
        drstd = __fadd_rn(drstd, __fmul_rn(__fmul_rn(column_scale(alpha, k, n), dtilde[row + k]), proj[row + k]));
      const float s = rstd[t0 + r];
      x_coef[t0 + r] = __fmul_rn(__fmul_rn(__fmul_rn(-drstd, s), s), s) / static_cast<float>(D);
    }
  }
  __syncthreads();

#pragma unroll 2
  for (int r = 0; r < tokens; ++r) {
    const float4* g4 = reinterpret_cast<const float4*>(dp + r * Kp);  // the same address in every lane
    float acc[kQ];
#pragma unroll
    for (int q = 0; q < kQ; ++q) acc[q] = 0.0f;
#pragma unroll
    for (int v = 0; v < Kp / 4; ++v) {
      const float4 g = g4[v];
#pragma unroll
      for (int q = 0; q < kQ; ++q) {
        acc[q] = fmaf(g.x, ph[q][4 * v], acc[q]);
        acc[q] = fmaf(g.y, ph[q][4 * v + 1], acc[q]);
        acc[q] = fmaf(g.z, ph[q][4 * v + 2], acc[q]);
        acc[q] = fmaf(g.w, ph[q][4 * v + 3], acc[q]);
      }
    }
#pragma unroll
    for (int q = 0; q < kQ; ++q)
      if (d[q] < D) dx[(t0 + r) * D + d[q]] = acc[q];
  }
}

// Block (column block db, token slice s) = blockIdx (% d_blocks, / d_blocks), tokens [s * slice, + slice) clamped
// to N, in tiles of kWeightTile ascending. part_phi[s] (D, K) = sum over the slice of x[t, d] dproj[t, :] for this
// thread's columns d; the blocks with db == 0 also write part_bias[s] (K) = sum dtilde and part_alpha[s] (K) =
// sum dtilde * (proj * rstd) per column (thread k sums column k, tokens ascending).
template <int n>
__global__ void __launch_bounds__(kThreads)
    mhc_projection_backward_weight_kernel(float* __restrict__ part_phi, float* __restrict__ part_bias,
                                          float* __restrict__ part_alpha, const float* __restrict__ dtilde,
                                          const float* __restrict__ proj, const float* __restrict__ rstd,
                                          const float* __restrict__ alpha, const float* __restrict__ x, std::int64_t N,
                                          std::int64_t D, unsigned int d_blocks, std::int64_t slice) {
  using S = Cols<n>;
  constexpr int K = S::K, Kp = S::Kp, kQ = S::kQ;
  static_assert(K <= kThreads, "one thread per column for the bias and alpha sums");
  __shared__ __align__(16) float dp[kWeightTile * Kp];  // token r, column k at r * Kp + k (zero padded)
  __shared__ float gt[kWeightTile * K];                 // dtilde (bias sums)
  __shared__ float zt[kWeightTile * K];                 // dtilde * z (alpha sums)
  const unsigned int db = blockIdx.x % d_blocks;
  const std::int64_t s = blockIdx.x / d_blocks;
  const std::int64_t begin = s * slice, end = begin + slice < N ? begin + slice : N;
  const bool sums = db == 0;

  std::int64_t d[kQ];
  float acc[kQ][Kp];
#pragma unroll
  for (int q = 0; q < kQ; ++q) {
    d[q] = static_cast<std::int64_t>(db) * S::kSpan + q * kThreads + threadIdx.x;
#pragma unroll
    for (int k = 0; k < Kp; ++k) acc[q][k] = 0.0f;
  }
  float bias_sum = 0.0f, alpha_sum = 0.0f;

  for (std::int64_t t0 = begin; t0 < end; t0 += kWeightTile) {
    const int tokens = static_cast<int>(end - t0 < kWeightTile ? end - t0 : kWeightTile);
    for (int e = threadIdx.x; e < tokens * Kp; e += kThreads) {
      const int r = e / Kp, k = e % Kp;
      dp[e] = k < K ? dproj_value(alpha, k, n, dtilde[(t0 + r) * K + k], rstd[t0 + r]) : 0.0f;
    }
    if (sums) {
      for (int e = threadIdx.x; e < tokens * K; e += kThreads) {
        const int r = e / K;
        const std::int64_t i = t0 * K + e;
        gt[e] = dtilde[i];
        zt[e] = __fmul_rn(dtilde[i], __fmul_rn(proj[i], rstd[t0 + r]));
      }
    }
    __syncthreads();
    if (sums && static_cast<int>(threadIdx.x) < K) {
      for (int r = 0; r < tokens; ++r) {
        bias_sum += gt[r * K + threadIdx.x];
        alpha_sum += zt[r * K + threadIdx.x];
      }
    }
#pragma unroll 2
    for (int r = 0; r < tokens; ++r) {
      float xv[kQ];
#pragma unroll
      for (int q = 0; q < kQ; ++q) xv[q] = d[q] < D ? x[(t0 + r) * D + d[q]] : 0.0f;
      const float4* g4 = reinterpret_cast<const float4*>(dp + r * Kp);  // the same address in every lane
#pragma unroll
      for (int v = 0; v < Kp / 4; ++v) {
        const float4 g = g4[v];
#pragma unroll
        for (int q = 0; q < kQ; ++q) axpy4(&acc[q][4 * v], xv[q], g);
      }
    }
    __syncthreads();
  }

#pragma unroll
  for (int q = 0; q < kQ; ++q) {
    if (d[q] < D) {
#pragma unroll
      for (int k = 0; k < K; ++k) part_phi[(s * D + d[q]) * K + k] = acc[q][k];
    }
  }
  if (sums && static_cast<int>(threadIdx.x) < K) {
    part_bias[s * K + threadIdx.x] = bias_sum;
    part_alpha[s * K + threadIdx.x] = alpha_sum;
  }
}

// Thread e: dphi[e] += sum over slices (ascending) of part_phi[s][e] for e < DK; then dbias[k] (K threads) and
// dalpha[b] (3 threads: columns of block b ascending, slices ascending within each column).
__global__ void mhc_projection_weight_reduce_kernel(float* __restrict__ dphi, float* __restrict__ dbias,
                                                    float* __restrict__ dalpha, const float* __restrict__ part_phi,
                                                    const float* __restrict__ part_bias,
                                                    const float* __restrict__ part_alpha, std::int64_t DK, int K, int n,
                                                    std::int64_t slices) {
  const std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e < DK) {
    float sum = part_phi[e];
    for (std::int64_t s = 1; s < slices; ++s) sum += part_phi[s * DK + e];
    dphi[e] += sum;
  } else if (e < DK + K) {
    const int k = static_cast<int>(e - DK);
    float sum = part_bias[k];
    for (std::int64_t s = 1; s < slices; ++s) sum += part_bias[s * K + k];
    dbias[k] += sum;
  } else if (e < DK + K + 3) {
    const int b = static_cast<int>(e - DK - K);
    const int lo = b == 0 ? 0 : (b == 1 ? n : 2 * n), hi = b == 0 ? n : (b == 1 ? 2 * n : K);
    float sum = 0.0f;
    for (int k = lo; k < hi; ++k)
      for (std::int64_t s = 0; s < slices; ++s) sum += part_alpha[s * K + k];
    dalpha[b] += sum;
  }
}

void check_extents(const char* kernel, std::int64_t N, int n, std::int64_t C) {
  MHC_CHECK(n >= 1 && n <= 8, ShapeError, kernel, ": n = ", n, " outside [1, 8]");
  MHC_CHECK(N >= 0 && C >= 0, ShapeError, kernel, ": negative extent N = ", N, ", C = ", C);
}

// Column blocks of kSpan covering D (at least one, so that D = 0 still runs the token-only parts).
std::int64_t column_blocks(std::int64_t D, std::int64_t span) {
  return std::max<std::int64_t>(1, (D + span - 1) / span);
}

}  // namespace

void launch_mhc_projection_forward(float* proj, float* rstd, const float* x, const float* phi, std::int64_t N, int n,
                                   std::int64_t C, float eps, StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  const char* kernel = "mhc_projection_forward_kernel";
  check_extents(kernel, N, n, C);
  if (N == 0) return;
  const std::int64_t D = n * C;
  const bool vec4 = D % 4 == 0 && aligned16(x);
  with_stream_count(n, [&](auto kn) {
    constexpr int kN = decltype(kn)::value;
    const unsigned int blocks = grid_blocks(N, Cols<kN>::kTokens, kernel);
    launch(kernel, mhc_projection_forward_kernel<kN>, blocks, kThreads, 0, stream, proj, rstd, x, phi, N, D, eps, vec4);
  });
}

void launch_mhc_projection_backward_input(float* dx, float* x_coef, const float* dtilde, const float* proj,
                                          const float* rstd, const float* alpha, const float* phi, std::int64_t N,
                                          int n, std::int64_t C, StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  const char* kernel = "mhc_projection_backward_input_kernel";
  check_extents(kernel, N, n, C);
  const std::int64_t D = n * C;
  if (N == 0 || D == 0) return;
  with_stream_count(n, [&](auto kn) {
    constexpr int kN = decltype(kn)::value;
    const std::int64_t d_blocks = column_blocks(D, Cols<kN>::kSpan);
    const std::int64_t tiles = (N + kInputTile - 1) / kInputTile;
    MHC_CHECK(tiles <= std::numeric_limits<int>::max() / d_blocks, ShapeError, kernel, ": ", tiles, " x ", d_blocks,
              " blocks do not fit a 1-D grid");
    const unsigned int blocks = grid_blocks(tiles * d_blocks, 1, kernel);
    launch(kernel, mhc_projection_backward_input_kernel<kN>, blocks, kThreads, 0, stream, dx, x_coef, dtilde, proj,
           rstd, alpha, phi, N, D, static_cast<unsigned int>(d_blocks));
  });
}

void launch_mhc_projection_backward_weight(float* dphi, float* dalpha, float* dbias, const float* dtilde,
                                           const float* x, const float* proj, const float* rstd, const float* alpha,
                                           std::int64_t N, int n, std::int64_t C, StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  const char* kernel = "mhc_projection_backward_weight_kernel";
  check_extents(kernel, N, n, C);
  if (N == 0) return;  // nothing to add
  const std::int64_t D = n * C, K = n * n + 2 * n, DK = D * K;
  with_stream_count(n, [&](auto kn) {
    constexpr int kN = decltype(kn)::value;
    // Token slices of whole tiles, sized so that column blocks x slices is about kWeightBlocks; depends on N and D
    // only, so the summation order (and the result bits) is the same on every GPU.
    const std::int64_t d_blocks = column_blocks(D, Cols<kN>::kSpan);
    const std::int64_t wanted = std::max<std::int64_t>(1, (kWeightBlocks + d_blocks - 1) / d_blocks);
    const std::int64_t per_slice = (N + wanted - 1) / wanted;
    const std::int64_t slice = (per_slice + kWeightTile - 1) / kWeightTile * kWeightTile;
    const std::int64_t slices = (N + slice - 1) / slice;
    MHC_CHECK(slices <= std::numeric_limits<int>::max() / d_blocks, ShapeError, kernel, ": ", slices, " x ", d_blocks,
              " blocks do not fit a 1-D grid");
    DeviceScratch scratch(slices * (DK + 2 * K) * static_cast<std::int64_t>(sizeof(float)), stream_handle, kernel);
    float* part_phi = scratch.as<float>();
    float* part_bias = part_phi + slices * DK;
    float* part_alpha = part_bias + slices * K;
    launch(kernel, mhc_projection_backward_weight_kernel<kN>, grid_blocks(slices * d_blocks, 1, kernel), kThreads, 0,
           stream, part_phi, part_bias, part_alpha, dtilde, proj, rstd, alpha, x, N, D,
           static_cast<unsigned int>(d_blocks), slice);
    const char* reduce = "mhc_projection_weight_reduce_kernel";
    launch(reduce, mhc_projection_weight_reduce_kernel, grid_blocks(DK + K + 3, 256, reduce), 256, 0, stream, dphi,
           dbias, dalpha, part_phi, part_bias, part_alpha, DK, static_cast<int>(K), n, slices);
  });
}

}  // namespace mhc::kernels
