// RMSNorm kernels: one block per row for the forward and the input gradient (block-wide double sums); the weight
// gradient sums fixed row chunks per block into a scratch of partials, then adds the chunks in order per column.
#include "core/device_scratch.hpp"
#include "kernels/block_sum.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/launch.cuh"
#include "kernels/rmsnorm.hpp"


namespace mhc::kernels {

namespace {

constexpr int kRowThreads = 256;  // threads per row block (a multiple of 32, as block_sum needs)
constexpr int kTileCols = 32;     // weight gradient: columns per block (one warp wide) ...
constexpr int kTileRows = 8;      // ... times rows in flight per block
constexpr std::int64_t kMaxChunks = 256;

__global__ void rmsnorm_forward_kernel(float* out, float* rstd, const float* x, const float* w, std::int64_t C,
                                       double eps) {
  __shared__ double scratch[32];
  const std::int64_t row = blockIdx.x;
  const float* xr = x + row * C;
  double sq = 0.0;
  for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    const double v = xr[c];
    sq += v * v;  // exact product of two floats, so a contracted fma rounds the same
  }
  sq = block_sum(sq, scratch);
  const float r = static_cast<float>(1.0 / sqrt(sq / static_cast<double>(C) + eps));
  if (threadIdx.x == 0) rstd[row] = r;
  float* o = out + row * C;
  for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) o[c] = __fmul_rn(__fmul_rn(xr[c], r), w[c]);
}

// dx may alias dout: every element is read and then written by the same thread.
__global__ void rmsnorm_backward_input_kernel(float* dx, const float* dout, const float* x, const float* w,
                                              const float* rstd, std::int64_t C) {
  __shared__ double scratch[32];
  const std::int64_t row = blockIdx.x;
  const float* xr = x + row * C;
  const float* g = dout + row * C;
  double dot = 0.0;  // sum_c dout * w * x, each product rounded like the CPU's
  for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x)
    dot = __dadd_rn(dot, __dmul_rn(__dmul_rn(g[c], w[c]), xr[c]));
  dot = block_sum(dot, scratch);
  const double r = rstd[row];
  const double coef = r * r * r * dot / static_cast<double>(C);
  float* d = dx + row * C;
  for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x)
    d[c] = static_cast<float>(__dsub_rn(__dmul_rn(__dmul_rn(r, w[c]), g[c]), __dmul_rn(coef, xr[c])));
}

// Block (tile, chunk) sums rows [chunk * chunk_rows, + chunk_rows) of columns [tile * 32, + 32):
// partials (chunks, C)[chunk, c] = sum_n dout[n, c] * x[n, c] * rstd[n] in double.
__global__ void rmsnorm_weight_partials_kernel(double* partials, const float* dout, const float* x,
                                               const float* rstd, std::int64_t N, std::int64_t C,
                                               std::int64_t chunk_rows) {
  __shared__ double sums[kTileRows][kTileCols];
  const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * kTileCols + threadIdx.x;
  const std::int64_t begin = static_cast<std::int64_t>(blockIdx.y) * chunk_rows;
  const std::int64_t end = begin + chunk_rows < N ? begin + chunk_rows : N;
  double acc = 0.0;
  if (c < C) {
    for (std::int64_t n = begin + threadIdx.y; n < end; n += kTileRows)
      acc = __dadd_rn(acc, __dmul_rn(__dmul_rn(dout[n * C + c], x[n * C + c]), rstd[n]));
  }
  sums[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    double total = sums[0][threadIdx.x];
#pragma unroll
    for (int k = 1; k < kTileRows; ++k) total += sums[k][threadIdx.x];
    partials[static_cast<std::int64_t>(blockIdx.y) * C + c] = total;
  }
}

// dw[c] += (float)(sum over chunks, in chunk order, of partials[chunk, c]).
__global__ void rmsnorm_weight_finish_kernel(float* dw, const double* partials, std::int64_t chunks, std::int64_t C) {
  const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double total = 0.0;
  for (std::int64_t k = 0; k < chunks; ++k) total += partials[k * C + c];
  dw[c] = __fadd_rn(dw[c], static_cast<float>(total));
}

void check_extents(std::int64_t N, std::int64_t C, const char* kernel) {
  MHC_CHECK(N >= 0 && C >= 0, ShapeError, kernel, ": negative extent N = ", N, ", C = ", C);
}

}  // namespace

void launch_rmsnorm_forward(float* out, float* rstd, const float* x, const float* w, std::int64_t N, std::int64_t C,
                            double eps, StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  check_extents(N, C, "rmsnorm_forward_kernel");
  if (N == 0) return;
  const unsigned int blocks = grid_blocks(N, 1, "rmsnorm_forward_kernel");
  launch("rmsnorm_forward_kernel", rmsnorm_forward_kernel, blocks, kRowThreads, 0, stream, out, rstd, x, w, C, eps);
}

void launch_rmsnorm_backward_input(float* dx, const float* dout, const float* x, const float* w, const float* rstd,
                                   std::int64_t N, std::int64_t C, StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  check_extents(N, C, "rmsnorm_backward_input_kernel");
  if (N == 0 || C == 0) return;
  const unsigned int blocks = grid_blocks(N, 1, "rmsnorm_backward_input_kernel");
  launch("rmsnorm_backward_input_kernel", rmsnorm_backward_input_kernel, blocks, kRowThreads, 0, stream, dx, dout, x, w,
         rstd, C);
}

void launch_rmsnorm_backward_weight(float* dw, const float* dout, const float* x, const float* rstd, std::int64_t N,
                                    std::int64_t C, StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  check_extents(N, C, "rmsnorm_weight_partials_kernel");
  if (N == 0 || C == 0) return;
  // The chunking depends on N alone, so the summation order (and the bits) repeat from run to run.
  std::int64_t chunks = (N + 31) / 32 < kMaxChunks ? (N + 31) / 32 : kMaxChunks;
  const std::int64_t chunk_rows = (N + chunks - 1) / chunks;
  chunks = (N + chunk_rows - 1) / chunk_rows;
  DeviceScratch partials(chunks * C * static_cast<std::int64_t>(sizeof(double)), stream_handle,
                         "rmsnorm_weight_partials_kernel");
  const dim3 grid(grid_blocks(C, kTileCols, "rmsnorm_weight_partials_kernel"), static_cast<unsigned int>(chunks));
  launch("rmsnorm_weight_partials_kernel", rmsnorm_weight_partials_kernel, grid, dim3(kTileCols, kTileRows), 0, stream,
         partials.as<double>(), dout, x, rstd, N, C, chunk_rows);
  launch("rmsnorm_weight_finish_kernel", rmsnorm_weight_finish_kernel,
         grid_blocks(C, kRowThreads, "rmsnorm_weight_finish_kernel"), kRowThreads, 0, stream, dw, partials.as<double>(),
         chunks, C);
}

}  // namespace mhc::kernels
