// Stream merge kernels: grid-stride loops for the plain sum; one block per token for the gate's forward and input
// gradient (block-wide double sums); the gate's parameter sums as per-chunk partials, then the chunks added in order.
#include "core/device_scratch.hpp"
#include "kernels/block_sum.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/head_merge.hpp"
#include "kernels/launch.cuh"


namespace mhc::kernels {

namespace {

constexpr int kThreads = 256;              // element-wise and per-token blocks (a multiple of 32, as block_sum needs)
constexpr std::int64_t kMaxBlocks = 4096;  // grid-stride beyond this
constexpr int kMaxStreams = 8;
constexpr int kSumThreads = 32;           // >= n + 1: one thread per stream, one for alpha
constexpr std::int64_t kChunkRows = 32;   // tokens per partial sum (at least) ...
constexpr std::int64_t kMaxChunks = 256;  // ... and at most this many partial sums per stream
static_assert(kSumThreads >= kMaxStreams + 1, "one thread per stream plus one for dalpha");

// Overflow-free logistic function for either sign of v (as ops::cpu::sigmoid).
__device__ __forceinline__ float sigmoid(float v) {
  if (v >= 0.0f) return 1.0f / (1.0f + expf(-v));
  const float e = expf(v);
  return e / (1.0f + e);
}

__global__ void stream_sum_forward_kernel(float* y, const float* x, std::int64_t total, int n, std::int64_t C) {
  const std::int64_t stride = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const float* xt = x + (e / C) * n * C + e % C;
    float acc = xt[0];
    for (int i = 1; i < n; ++i) acc = __fadd_rn(acc, xt[i * C]);
    y[e] = acc;
  }
}

__global__ void stream_sum_backward_kernel(float* dx, const float* dy, std::int64_t total, int n, std::int64_t C) {
  const std::int64_t stride = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride)
    dx[e] = dy[(e / (n * C)) * C + e % C];
}

__global__ void head_merge_gate_forward_kernel(float* y, float* w, float* rstd, const float* proj, const float* x,
                                               const float* alpha, const float* bias, int n, std::int64_t C,
                                               double rms_eps, float weight_eps) {
  __shared__ double scratch[32];
  __shared__ float weights[kMaxStreams];
  const std::int64_t t = blockIdx.x, D = n * C;
  const float* xt = x + t * D;
  double sq = 0.0;
  for (std::int64_t d = threadIdx.x; d < D; d += blockDim.x) {
    const double v = xt[d];
    sq += v * v;
  }
  sq = block_sum(sq, scratch);
  const float r = static_cast<float>(1.0 / sqrt(sq / static_cast<double>(D) + rms_eps));
  if (threadIdx.x == 0) rstd[t] = r;
  if (static_cast<int>(threadIdx.x) < n) {
    const int i = static_cast<int>(threadIdx.x);
    const float logit = __fadd_rn(__fmul_rn(alpha[0], __fmul_rn(proj[t * n + i], r)), bias[i]);
    const float wi = __fadd_rn(sigmoid(logit), weight_eps);
    weights[i] = wi;
    w[t * n + i] = wi;
  }
  __syncthreads();
  for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float acc = __fmul_rn(weights[0], xt[c]);
    for (int i = 1; i < n; ++i) acc = __fadd_rn(acc, __fmul_rn(weights[i], xt[i * C + c]));
    y[t * C + c] = acc;
  }
}

__global__ void head_merge_gate_backward_input_kernel(float* dx, float* dlogit, float* dproj, const float* dy,
                                                      const float* x, const float* alpha, const float* w,
                                                      const float* proj, const float* rstd, int n, std::int64_t C,
                                                      float weight_eps) {
  __shared__ double scratch[32];
  const std::int64_t t = blockIdx.x;
  const float* xt = x + t * n * C;
  const float* dyt = dy + t * C;
  double dot[kMaxStreams];  // <dy, x[i]>
#pragma unroll
  for (int i = 0; i < kMaxStreams; ++i) dot[i] = 0.0;
  for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    const double g = dyt[c];
#pragma unroll
    for (int i = 0; i < kMaxStreams; ++i)
      if (i < n) dot[i] += g * static_cast<double>(xt[i * C + c]);
  }
  // Every thread forms the same per-token scalars from the block sums.
  const double a = alpha[0], r = rstd[t];
  double grad[kMaxStreams], drstd = 0.0;  // dlogit; d(rstd) = sum_i alpha dlogit_i proj_i
#pragma unroll
  for (int i = 0; i < kMaxStreams; ++i) {
    grad[i] = 0.0;
    if (i < n) {  // n is the same in every thread, so each block_sum is reached by the whole block
      const double s = static_cast<double>(w[t * n + i]) - static_cast<double>(weight_eps);  // the sigmoid
      grad[i] = block_sum(dot[i], scratch) * s * (1.0 - s);
      drstd += a * grad[i] * static_cast<double>(proj[t * n + i]);
    }
  }
  if (static_cast<int>(threadIdx.x) < n) {
    const int i = static_cast<int>(threadIdx.x);
#pragma unroll
    for (int k = 0; k < kMaxStreams; ++k) {
      if (k == i) {  // a static index keeps grad in registers
        dlogit[t * n + i] = static_cast<float>(grad[k]);
        dproj[t * n + i] = static_cast<float>(a * grad[k] * r);
      }
    }
  }
  const double coef = -drstd * r * r * r / static_cast<double>(n * C);
  float* dxt = dx + t * n * C;
  for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    const double g = dyt[c];
#pragma unroll
    for (int i = 0; i < kMaxStreams; ++i)
      if (i < n) dxt[i * C + c] = static_cast<float>(static_cast<double>(w[t * n + i]) * g + coef * xt[i * C + c]);
  }
}

// Block `chunk` covers tokens [chunk * chunk_rows, + chunk_rows) (clamped to N), ascending; thread i < n writes
// dproj[., i] and partials[chunk] = (sum dlogit[., i] (n), sum dlogit[., i] proj[., i] rstd (n)) in double.
__global__ void head_merge_gate_partials_kernel(double* partials, float* dproj, const float* dlogit,
                                                const float* proj, const float* rstd, const float* alpha,
                                                std::int64_t N, int n, std::int64_t chunk_rows) {
  const int i = static_cast<int>(threadIdx.x);
  if (i >= n) return;
  const std::int64_t begin = static_cast<std::int64_t>(blockIdx.x) * chunk_rows;
  const std::int64_t end = begin + chunk_rows < N ? begin + chunk_rows : N;
  const float a = alpha[0];
  double plain = 0.0, weighted = 0.0;
  for (std::int64_t t = begin; t < end; ++t) {
    const float g = dlogit[t * n + i], r = rstd[t];
    dproj[t * n + i] = __fmul_rn(__fmul_rn(a, g), r);
    plain += g;
    weighted += static_cast<double>(g) * (static_cast<double>(proj[t * n + i]) * r);
  }
  double* out = partials + static_cast<std::int64_t>(blockIdx.x) * 2 * n;
  out[i] = plain;
  out[n + i] = weighted;
}

// One block: thread i < n adds the chunks' sums of stream i (ascending) to dbias[i]; thread n adds the weighted
// sums (streams ascending, chunks ascending within each) to dalpha.
__global__ void head_merge_gate_finish_kernel(float* dalpha, float* dbias, const double* partials,
                                              std::int64_t chunks, int n) {
  const int i = static_cast<int>(threadIdx.x);
  if (i < n) {
    double total = 0.0;
    for (std::int64_t k = 0; k < chunks; ++k) total += partials[k * 2 * n + i];
    dbias[i] = __fadd_rn(dbias[i], static_cast<float>(total));
  } else if (i == n) {
    double total = 0.0;
    for (int j = 0; j < n; ++j)
      for (std::int64_t k = 0; k < chunks; ++k) total += partials[k * 2 * n + n + j];
    dalpha[0] = __fadd_rn(dalpha[0], static_cast<float>(total));
  }
}

void check_extents(const char* kernel, std::int64_t N, int n, std::int64_t C) {
  MHC_CHECK(n >= 1 && n <= kMaxStreams, ShapeError, kernel, ": n = ", n, " outside [1, 8]");
  MHC_CHECK(N >= 0 && C >= 0, ShapeError, kernel, ": negative extent N = ", N, ", C = ", C);
}

unsigned int elementwise_blocks(std::int64_t total, const char* kernel) {
  return grid_blocks(total < kMaxBlocks * kThreads ? total : kMaxBlocks * kThreads, kThreads, kernel);
}

}  // namespace

void launch_stream_sum_forward(float* y, const float* x, std::int64_t N, int n, std::int64_t C,
                               StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  const char* kernel = "stream_sum_forward_kernel";
  check_extents(kernel, N, n, C);
  const std::int64_t total = N * C;
  if (total == 0) return;
  launch(kernel, stream_sum_forward_kernel, elementwise_blocks(total, kernel), kThreads, 0, stream, y, x, total, n, C);
}

void launch_stream_sum_backward(float* dx, const float* dy, std::int64_t N, int n, std::int64_t C,
                                StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  const char* kernel = "stream_sum_backward_kernel";
  check_extents(kernel, N, n, C);
  const std::int64_t total = N * n * C;
  if (total == 0) return;
  launch(kernel, stream_sum_backward_kernel, elementwise_blocks(total, kernel), kThreads, 0, stream, dx, dy, total, n,
         C);
}

void launch_head_merge_gate_forward(float* y, float* w, float* rstd, const float* proj, const float* x,
                                    const float* alpha, const float* bias, std::int64_t N, int n, std::int64_t C,
                                    double rms_eps, float weight_eps, StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  const char* kernel = "head_merge_gate_forward_kernel";
  check_extents(kernel, N, n, C);
  if (N == 0) return;
  launch(kernel, head_merge_gate_forward_kernel, grid_blocks(N, 1, kernel), kThreads, 0, stream, y, w, rstd, proj, x,
         alpha, bias, n, C, rms_eps, weight_eps);
}

void launch_head_merge_gate_backward_input(float* dx, float* dlogit, float* dproj, const float* dy, const float* x,
                                           const float* alpha, const float* w, const float* proj, const float* rstd,
                                           std::int64_t N, int n, std::int64_t C, float weight_eps,
                                           StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  const char* kernel = "head_merge_gate_backward_input_kernel";
  check_extents(kernel, N, n, C);
  if (N == 0) return;
  launch(kernel, head_merge_gate_backward_input_kernel, grid_blocks(N, 1, kernel), kThreads, 0, stream, dx, dlogit,
         dproj, dy, x, alpha, w, proj, rstd, n, C, weight_eps);
}

void launch_head_merge_gate_weight_sums(float* dproj, float* dalpha, float* dbias, const float* dlogit,
                                        const float* proj, const float* rstd, const float* alpha, std::int64_t N,
                                        int n, StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  const char* kernel = "head_merge_gate_partials_kernel";
  check_extents(kernel, N, n, 0);
  if (N == 0) return;  // nothing to add
  // The chunking depends on N alone, so the summation order (and the bits) repeat from run to run.
  std::int64_t chunks = (N + kChunkRows - 1) / kChunkRows < kMaxChunks ? (N + kChunkRows - 1) / kChunkRows : kMaxChunks;
  const std::int64_t chunk_rows = (N + chunks - 1) / chunks;
  chunks = (N + chunk_rows - 1) / chunk_rows;
  DeviceScratch partials(chunks * 2 * n * static_cast<std::int64_t>(sizeof(double)), stream_handle, kernel);
  launch(kernel, head_merge_gate_partials_kernel, static_cast<unsigned int>(chunks), kSumThreads, 0, stream,
         partials.as<double>(), dproj, dlogit, proj, rstd, alpha, N, n, chunk_rows);
  launch("head_merge_gate_finish_kernel", head_merge_gate_finish_kernel, 1, kSumThreads, 0, stream, dalpha, dbias,
         partials.as<double>(), chunks, n);
}

}  // namespace mhc::kernels
