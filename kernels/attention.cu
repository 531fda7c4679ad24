// Causal attention kernels: 64 x 64 score tiles in shared memory, 256 threads as a 16 x 16 grid (ty, tx); a thread
// owns rows ty + 16 r and columns tx + 16 c (r, c < 4) of a score tile, and columns tx + 16 c of the D-wide
// accumulators of its rows. Head dimensions are padded with zeros to Dp in {16, 32, 64, 128}.
#include "core/device_scratch.hpp"
#include "kernels/attention.hpp"
#include "kernels/cuda_calls.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/launch.cuh"

#include <cmath>
#include <type_traits>


namespace mhc::kernels {

namespace {

constexpr int kTile = 64;               // queries (and keys) per tile
constexpr int kThreads = 256;           // threads per block
constexpr int kSide = 16;               // the 16 x 16 thread grid
constexpr int kSub = kTile / kSide;     // tile rows (and score columns) per thread
constexpr int kScorePitch = kTile + 1;  // pitch of the shared score tiles (odd: no bank conflicts)
constexpr int kWarpsPerBlock = kThreads / 32;
constexpr std::int64_t kDefaultSharedBytes = 48 * 1024;

// Extents of one launch: element (b, t, h, d) of a (B, T, H, D) tensor is at ((b T + t) H + h) D + d.
struct Dims {
  std::int64_t T, H;
  int D;
  std::int64_t tiles;  // ceil(T / kTile)
  float scale;         // 1 / sqrt(D)
};

// Offset of (b, t = 0, h, d = 0) for the block's bh = b H + h.
__device__ __forceinline__ std::int64_t head_offset(std::int64_t bh, const Dims& s) {
  return ((bh / s.H) * s.T * s.H + bh % s.H) * s.D;
}

// tile (kTile, Dp) at pitch Dp + 1 = rows [row0, row0 + kTile) of one head (`head` = x + head_offset), zero beyond
// T and D, so padded rows and columns add exact zeros to the dot products.
template <int Dp>
__device__ __forceinline__ void load_tile(float* tile, const float* head, std::int64_t row0, const Dims& s) {
  const std::int64_t ld = s.H * s.D;
  for (int idx = static_cast<int>(threadIdx.x); idx < kTile * Dp; idx += kThreads) {
    const int r = idx / Dp, d = idx % Dp;
    const std::int64_t t = row0 + r;
    tile[r * (Dp + 1) + d] = t < s.T && d < s.D ? head[t * ld + d] : 0.0f;
  }
}

// acc[r][c] += a[ty + 16 r] . b[tx + 16 c] over Dp, for tiles a, b (kTile, Dp) at pitch Dp + 1.
template <int Dp>
__device__ __forceinline__ void tile_dots(float (&acc)[kSub][kSub], const float* a, const float* b, int ty, int tx) {
  constexpr int P = Dp + 1;
  for (int d = 0; d < Dp; ++d) {
    float av[kSub], bv[kSub];
#pragma unroll
    for (int r = 0; r < kSub; ++r) av[r] = a[(ty + kSide * r) * P + d];
#pragma unroll
    for (int c = 0; c < kSub; ++c) bv[c] = b[(tx + kSide * c) * P + d];
#pragma unroll
    for (int r = 0; r < kSub; ++r)
#pragma unroll
      for (int c = 0; c < kSub; ++c) acc[r][c] += av[r] * bv[c];
  }
}

// acc[r][c] += sum_j w[ty + 16 r][j] m[j][tx + 16 c] for a score tile w (kTile, kTile) at pitch kScorePitch and a
// tile m (kTile, Dp) at pitch Dp + 1; j in increasing order.
template <int Dp>
__device__ __forceinline__ void accumulate_product(float (&acc)[kSub][Dp / kSide], const float* w, const float* m,
                                                   int ty, int tx) {
  constexpr int P = Dp + 1, kCols = Dp / kSide;
  for (int j = 0; j < kTile; ++j) {
    float wv[kSub], mv[kCols];
#pragma unroll
    for (int r = 0; r < kSub; ++r) wv[r] = w[(ty + kSide * r) * kScorePitch + j];
#pragma unroll
    for (int c = 0; c < kCols; ++c) mv[c] = m[j * P + tx + kSide * c];
#pragma unroll
    for (int r = 0; r < kSub; ++r)
#pragma unroll
      for (int c = 0; c < kCols; ++c) acc[r][c] += wv[r] * mv[c];
  }
}

// Max and sum over the 16 threads of a tile row (lanes that differ in their low 4 bits). A butterfly: every lane
// gets the same bits (float addition is commutative).
__device__ __forceinline__ float row_max(float v) {
#pragma unroll
  for (int o = 1; o < kSide; o <<= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float row_sum(float v) {
#pragma unroll
  for (int o = 1; o < kSide; o <<= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Block (bh, query tile qt), the longest (last) query tiles first. Online softmax over key tiles 0..qt: running max
// m and sum l per row, the accumulator rescaled by exp(m_old - m_new) when the max grows.
template <int Dp>
__global__ void __launch_bounds__(kThreads)
    attention_forward_kernel(float* __restrict__ out, float* __restrict__ lse, const float* __restrict__ q,
                             const float* __restrict__ k, const float* __restrict__ v, Dims s) {
  constexpr int P = Dp + 1, kCols = Dp / kSide;
  MHC_DYNAMIC_SHARED(float, smem);
  float* qs = smem;
  float* ks = qs + kTile * P;
  float* vs = ks + kTile * P;
  float* ps = vs + kTile * P;  // probabilities (kTile, kTile) at pitch kScorePitch
  const std::int64_t bh = blockIdx.x / s.tiles, qt = s.tiles - 1 - blockIdx.x % s.tiles, q0 = qt * kTile;
  const std::int64_t base = head_offset(bh, s);
  const int tx = static_cast<int>(threadIdx.x) % kSide, ty = static_cast<int>(threadIdx.x) / kSide;
  load_tile<Dp>(qs, q + base, q0, s);
  float m[kSub], l[kSub], acc[kSub][kCols];
#pragma unroll
  for (int r = 0; r < kSub; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
#pragma unroll
    for (int c = 0; c < kCols; ++c) acc[r][c] = 0.0f;
  }
  for (std::int64_t kt = 0; kt <= qt; ++kt) {
    const std::int64_t k0 = kt * kTile;
    __syncthreads();  // the previous tile's ks, vs, ps are read
    load_tile<Dp>(ks, k + base, k0, s);
    load_tile<Dp>(vs, v + base, k0, s);
    __syncthreads();
    float sc[kSub][kSub] = {};
    tile_dots<Dp>(sc, qs, ks, ty, tx);
#pragma unroll
    for (int r = 0; r < kSub; ++r) {
      const std::int64_t i = q0 + ty + kSide * r;
      float mx = -INFINITY;
#pragma unroll
      for (int c = 0; c < kSub; ++c) {
        // Keys beyond T only appear where j > i for every row i < T; rows i >= T are never written.
        sc[r][c] = k0 + tx + kSide * c <= i ? sc[r][c] * s.scale : -INFINITY;
        mx = fmaxf(mx, sc[r][c]);
      }
      const float m_new = fmaxf(m[r], row_max(mx));  // finite: key k0 <= q0 <= i is never masked
      const float alpha = expf(m[r] - m_new);        // 0 on the first tile (m = -inf)
      float sum = 0.0f;
#pragma unroll
      for (int c = 0; c < kSub; ++c) {
        const float p = expf(sc[r][c] - m_new);
        ps[(ty + kSide * r) * kScorePitch + tx + kSide * c] = p;
        sum += p;
      }
      l[r] = l[r] * alpha + row_sum(sum);
      m[r] = m_new;
#pragma unroll
      for (int c = 0; c < kCols; ++c) acc[r][c] *= alpha;
    }
    __syncthreads();
    accumulate_product<Dp>(acc, ps, vs, ty, tx);
  }
  const std::int64_t ld = s.H * s.D;
#pragma unroll
  for (int r = 0; r < kSub; ++r) {
    const std::int64_t i = q0 + ty + kSide * r;
    if (i >= s.T) continue;
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      const int d = tx + kSide * c;
      if (d < s.D) out[base + i * ld + d] = acc[r][c] / l[r];
    }
    if (tx == 0) lse[bh * s.T + i] = m[r] + logf(l[r]);
  }
}

// delta (B, H, T) = sum_d dout * out for each row (b, t, h) of the (B T H, D) views: one warp per row.
__global__ void __launch_bounds__(kThreads)
    attention_delta_kernel(float* __restrict__ delta, const float* __restrict__ dout, const float* __restrict__ out,
                           std::int64_t rows, std::int64_t T, std::int64_t H, int D) {
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = static_cast<int>(threadIdx.x) % 32;
  if (row >= rows) return;  // the whole warp: row depends on the warp alone
  float sum = 0.0f;
  for (int d = lane; d < D; d += 32) sum += dout[row * D + d] * out[row * D + d];
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  if (lane == 0) {
    const std::int64_t h = row % H, t = (row / H) % T, b = row / (H * T);
    delta[(b * H + h) * T + t] = sum;
  }
}

// Block (bh, query tile qt): dq[i] = scale sum_{j <= i} dS_ij k_j over key tiles 0..qt, with
// dS = P * (dout v^T - delta_i) and P = exp(s - lse_i) recomputed.
template <int Dp>
__global__ void __launch_bounds__(kThreads)
    attention_backward_dq_kernel(float* __restrict__ dq, const float* __restrict__ dout, const float* __restrict__ q,
                                 const float* __restrict__ k, const float* __restrict__ v,
                                 const float* __restrict__ lse, const float* __restrict__ delta, Dims s) {
  constexpr int P = Dp + 1, kCols = Dp / kSide;
  MHC_DYNAMIC_SHARED(float, smem);
  float* qs = smem;
  float* gs = qs + kTile * P;  // dout
  float* ks = gs + kTile * P;
  float* vs = ks + kTile * P;
  float* dss = vs + kTile * P;  // dS (kTile, kTile) at pitch kScorePitch
  const std::int64_t bh = blockIdx.x / s.tiles, qt = s.tiles - 1 - blockIdx.x % s.tiles, q0 = qt * kTile;
  const std::int64_t base = head_offset(bh, s);
  const int tx = static_cast<int>(threadIdx.x) % kSide, ty = static_cast<int>(threadIdx.x) / kSide;
  load_tile<Dp>(qs, q + base, q0, s);
  load_tile<Dp>(gs, dout + base, q0, s);
  float row_lse[kSub], row_delta[kSub], acc[kSub][kCols];
#pragma unroll
  for (int r = 0; r < kSub; ++r) {
    const std::int64_t i = q0 + ty + kSide * r;
    row_lse[r] = i < s.T ? lse[bh * s.T + i] : 0.0f;
    row_delta[r] = i < s.T ? delta[bh * s.T + i] : 0.0f;
#pragma unroll
    for (int c = 0; c < kCols; ++c) acc[r][c] = 0.0f;
  }
  for (std::int64_t kt = 0; kt <= qt; ++kt) {
    const std::int64_t k0 = kt * kTile;
    __syncthreads();  // the previous tile's ks, vs, dss are read
    load_tile<Dp>(ks, k + base, k0, s);
    load_tile<Dp>(vs, v + base, k0, s);
    __syncthreads();
    float sc[kSub][kSub] = {}, dp[kSub][kSub] = {};
    tile_dots<Dp>(sc, qs, ks, ty, tx);
    tile_dots<Dp>(dp, gs, vs, ty, tx);
#pragma unroll
    for (int r = 0; r < kSub; ++r) {
      const std::int64_t i = q0 + ty + kSide * r;
#pragma unroll
      for (int c = 0; c < kSub; ++c) {
        const float p = k0 + tx + kSide * c <= i ? expf(sc[r][c] * s.scale - row_lse[r]) : 0.0f;
        dss[(ty + kSide * r) * kScorePitch + tx + kSide * c] = p * (dp[r][c] - row_delta[r]);
      }
    }
    __syncthreads();
    accumulate_product<Dp>(acc, dss, ks, ty, tx);
  }
  const std::int64_t ld = s.H * s.D;
#pragma unroll
  for (int r = 0; r < kSub; ++r) {
    const std::int64_t i = q0 + ty + kSide * r;
    if (i >= s.T) continue;
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      const int d = tx + kSide * c;
      if (d < s.D) dq[base + i * ld + d] = acc[r][c] * s.scale;
    }
  }
}

// Block (bh, key tile kt), the longest (first) key tiles first: over query tiles kt..tiles-1,
// dv[j] = sum_{i >= j} P_ij dout_i and dk[j] = scale sum_{i >= j} dS_ij q_i, the transposed tiles P^T and dS^T
// computed directly (score-tile rows are keys here, columns queries).
template <int Dp>
__global__ void __launch_bounds__(kThreads)
    attention_backward_dkdv_kernel(float* __restrict__ dk, float* __restrict__ dv, const float* __restrict__ dout,
                                   const float* __restrict__ q, const float* __restrict__ k,
                                   const float* __restrict__ v, const float* __restrict__ lse,
                                   const float* __restrict__ delta, Dims s) {
  constexpr int P = Dp + 1, kCols = Dp / kSide;
  MHC_DYNAMIC_SHARED(float, smem);
  float* ks = smem;
  float* vs = ks + kTile * P;
  float* qs = vs + kTile * P;
  float* gs = qs + kTile * P;                // dout
  float* pts = gs + kTile * P;               // P^T (kTile keys, kTile queries) at pitch kScorePitch
  float* dsts = pts + kTile * kScorePitch;   // dS^T, same layout
  float* lse_s = dsts + kTile * kScorePitch;  // lse and delta of the query tile
  float* delta_s = lse_s + kTile;
  const std::int64_t bh = blockIdx.x / s.tiles, kt = blockIdx.x % s.tiles, k0 = kt * kTile;
  const std::int64_t base = head_offset(bh, s);
  const int tx = static_cast<int>(threadIdx.x) % kSide, ty = static_cast<int>(threadIdx.x) / kSide;
  load_tile<Dp>(ks, k + base, k0, s);
  load_tile<Dp>(vs, v + base, k0, s);
  float acc_k[kSub][kCols], acc_v[kSub][kCols];
#pragma unroll
  for (int r = 0; r < kSub; ++r)
#pragma unroll
    for (int c = 0; c < kCols; ++c) acc_k[r][c] = acc_v[r][c] = 0.0f;
  for (std::int64_t qt = kt; qt < s.tiles; ++qt) {
    const std::int64_t q0 = qt * kTile;
    __syncthreads();  // the previous tile's qs, gs, pts, dsts, lse_s, delta_s are read
    load_tile<Dp>(qs, q + base, q0, s);
    load_tile<Dp>(gs, dout + base, q0, s);
    if (threadIdx.x < kTile) {
      const std::int64_t i = q0 + threadIdx.x;
      lse_s[threadIdx.x] = i < s.T ? lse[bh * s.T + i] : 0.0f;
      delta_s[threadIdx.x] = i < s.T ? delta[bh * s.T + i] : 0.0f;
    }
    __syncthreads();
    float sc[kSub][kSub] = {}, dp[kSub][kSub] = {};
    tile_dots<Dp>(sc, ks, qs, ty, tx);
    tile_dots<Dp>(dp, vs, gs, ty, tx);
#pragma unroll
    for (int r = 0; r < kSub; ++r) {
      const std::int64_t j = k0 + ty + kSide * r;
#pragma unroll
      for (int c = 0; c < kSub; ++c) {
        const int col = tx + kSide * c;
        const std::int64_t i = q0 + col;
        // Padded queries (i >= T) must not contribute; padded keys (j >= T) are never written.
        const float p = j <= i && i < s.T ? expf(sc[r][c] * s.scale - lse_s[col]) : 0.0f;
        pts[(ty + kSide * r) * kScorePitch + col] = p;
        dsts[(ty + kSide * r) * kScorePitch + col] = p * (dp[r][c] - delta_s[col]);
      }
    }
    __syncthreads();
    accumulate_product<Dp>(acc_v, pts, gs, ty, tx);
    accumulate_product<Dp>(acc_k, dsts, qs, ty, tx);
  }
  const std::int64_t ld = s.H * s.D;
#pragma unroll
  for (int r = 0; r < kSub; ++r) {
    const std::int64_t j = k0 + ty + kSide * r;
    if (j >= s.T) continue;
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      const int d = tx + kSide * c;
      if (d >= s.D) continue;
      dk[base + j * ld + d] = acc_k[r][c] * s.scale;
      dv[base + j * ld + d] = acc_v[r][c];
    }
  }
}

// Dynamic shared memory of each kernel for a padded head dimension Dp.
constexpr std::int64_t forward_shared_bytes(int Dp) {
  return (3 * kTile * (Dp + 1) + kTile * kScorePitch) * static_cast<std::int64_t>(sizeof(float));
}
constexpr std::int64_t dq_shared_bytes(int Dp) {
  return (4 * kTile * (Dp + 1) + kTile * kScorePitch) * static_cast<std::int64_t>(sizeof(float));
}
constexpr std::int64_t dkdv_shared_bytes(int Dp) {
  return (4 * kTile * (Dp + 1) + 2 * kTile * kScorePitch + 2 * kTile) * static_cast<std::int64_t>(sizeof(float));
}

// Opts `kernel` in to `bytes` of dynamic shared memory where that exceeds the default 48 KiB.
template <typename Kernel>
void reserve_shared(Kernel kernel, std::int64_t bytes, const char* name) {
  if (bytes <= kDefaultSharedBytes) return;
  int device = 0, optin = 0;
  check_cuda(cudaGetDevice(&device), name);
  check_cuda(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device), name);
  MHC_CHECK(bytes <= optin, DeviceError, name, ": needs ", bytes, " bytes of shared memory per block, the device has ",
            optin);
  check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)), name);
}

// Calls f(std::integral_constant<int, Dp>) with D rounded up to Dp in {16, 32, 64, 128}.
template <typename F>
void with_padded_head_dim(std::int64_t D, F&& f) {
  if (D <= 16) {
    f(std::integral_constant<int, 16>{});
  } else if (D <= 32) {
    f(std::integral_constant<int, 32>{});
  } else if (D <= 64) {
    f(std::integral_constant<int, 64>{});
  } else {
    f(std::integral_constant<int, 128>{});
  }
}

// Checks the extents; false when there is nothing to compute.
bool check_extents(const char* op, std::int64_t B, std::int64_t T, std::int64_t H, std::int64_t D) {
  MHC_CHECK(B >= 0 && T >= 0 && H >= 0, ShapeError, op, ": negative extent B = ", B, ", T = ", T, ", H = ", H);
  MHC_CHECK(D >= 1 && D <= kAttentionMaxHeadDim, ShapeError, op, ": head dimension D = ", D,
            " is not supported by the CUDA kernels (1 <= D <= ", kAttentionMaxHeadDim, ")");
  return B > 0 && T > 0 && H > 0;
}

Dims make_dims(std::int64_t T, std::int64_t H, std::int64_t D) {
  return Dims{T, H, static_cast<int>(D), (T + kTile - 1) / kTile,
              static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)))};
}

}  // namespace

void launch_attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, std::int64_t B,
                              std::int64_t T, std::int64_t H, std::int64_t D, StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  if (!check_extents("attention_forward", B, T, H, D)) return;
  const Dims dims = make_dims(T, H, D);
  const unsigned int blocks = grid_blocks(B * H * dims.tiles, 1, "attention_forward_kernel");
  with_padded_head_dim(D, [&](auto dp) {
    constexpr int Dp = decltype(dp)::value;
    const std::int64_t bytes = forward_shared_bytes(Dp);
    reserve_shared(attention_forward_kernel<Dp>, bytes, "attention_forward_kernel");
    const std::size_t smem = static_cast<std::size_t>(bytes);
    launch("attention_forward_kernel", attention_forward_kernel<Dp>, blocks, kThreads, smem, stream, out, lse, q, k, v,
           dims);
  });
}

void launch_attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                               const float* v, const float* out, const float* lse, std::int64_t B, std::int64_t T,
                               std::int64_t H, std::int64_t D, StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  if (!check_extents("attention_backward", B, T, H, D)) return;
  const Dims dims = make_dims(T, H, D);
  const std::int64_t rows = B * T * H;
  DeviceScratch delta(rows * static_cast<std::int64_t>(sizeof(float)), stream_handle, "attention_delta_kernel");
  launch("attention_delta_kernel", attention_delta_kernel, grid_blocks(rows, kWarpsPerBlock, "attention_delta_kernel"),
         kThreads, 0, stream, delta.as<float>(), dout, out, rows, T, H, static_cast<int>(D));
  const unsigned int blocks = grid_blocks(B * H * dims.tiles, 1, "attention_backward_dq_kernel");
  with_padded_head_dim(D, [&](auto dp) {
    constexpr int Dp = decltype(dp)::value;
    const std::int64_t dq_bytes = dq_shared_bytes(Dp), dkdv_bytes = dkdv_shared_bytes(Dp);
    reserve_shared(attention_backward_dq_kernel<Dp>, dq_bytes, "attention_backward_dq_kernel");
    reserve_shared(attention_backward_dkdv_kernel<Dp>, dkdv_bytes, "attention_backward_dkdv_kernel");
    const std::size_t dq_smem = static_cast<std::size_t>(dq_bytes), dkdv_smem = static_cast<std::size_t>(dkdv_bytes);
    launch("attention_backward_dq_kernel", attention_backward_dq_kernel<Dp>, blocks, kThreads, dq_smem, stream, dq,
           dout, q, k, v, lse, delta.as<float>(), dims);
    launch("attention_backward_dkdv_kernel", attention_backward_dkdv_kernel<Dp>, blocks, kThreads, dkdv_smem, stream,
           dk, dv, dout, q, k, v, lse, delta.as<float>(), dims);
  });
}

}  // namespace mhc::kernels
