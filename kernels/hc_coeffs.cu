// Hyper-Connections coefficient kernels: one thread per projection element for the tanh gates and their gradient;
// the W token sums as per-chunk partials in double (one thread per column of proj), then the chunks added in order.
#include "core/device_scratch.hpp"
#include "kernels/cuda_check.cuh"
#include "kernels/hc_coeffs.hpp"
#include "kernels/launch.cuh"


namespace mhc::kernels {

namespace {

constexpr int kThreads = 256;
constexpr std::int64_t kMaxBlocks = 4096;  // grid-stride beyond this
constexpr int kSumThreads = 128;           // >= n P + 2 = 82 for n = 8: one thread per column of proj
constexpr std::int64_t kChunkRows = 32;    // tokens per partial sum (at least) ...
constexpr std::int64_t kMaxChunks = 256;   // ... and at most this many partial sums per column
static_assert(kSumThreads >= 8 * (8 + 2) + 2, "one thread per column of proj plus two for ds, for n up to 8");

// The gradient w.r.t. A[t, i, c], the coefficient made from proj[t, i, c]: dh_pre, dh_res^T or dh_post.
__device__ __forceinline__ float coefficient_grad(const float* dh_pre, const float* dh_post, const float* dh_res,
                                                  std::int64_t t, int i, int c, int n) {
  if (c == 0) return dh_pre[t * n + i];
  if (c <= n) return dh_res[(t * n + (c - 1)) * n + i];
  return dh_post[t * n + i];
}

__global__ void hc_coeffs_forward_kernel(float* h_pre, float* h_post, float* h_res, const float* proj, const float* s,
                                         const float* am, const float* ar, const float* bb, std::int64_t total, int n) {
  const int P = n + 2;
  const std::int64_t stride = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const std::int64_t row = e / P;  // t * n + i
    const int c = static_cast<int>(e % P), i = static_cast<int>(row % n);
    const std::int64_t t = row / n;
    const float th = tanhf(proj[e]);
    if (c == 0) {
      h_pre[row] = __fadd_rn(__fmul_rn(s[0], th), am[i]);
    } else if (c <= n) {
      const int j = c - 1;
      h_res[(t * n + j) * n + i] = __fadd_rn(__fmul_rn(s[0], th), ar[i * n + j]);
    } else {
      h_post[row] = __fadd_rn(__fmul_rn(s[1], th), bb[i]);
    }
  }
}

__global__ void hc_coeffs_dproj_kernel(float* dproj, const float* dh_pre, const float* dh_post, const float* dh_res,
                                       const float* proj, const float* s, std::int64_t total, int n) {
  const int P = n + 2;
  const std::int64_t stride = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const std::int64_t row = e / P;
    const int c = static_cast<int>(e % P), i = static_cast<int>(row % n);
    const float g = coefficient_grad(dh_pre, dh_post, dh_res, row / n, i, c, n);
    const float th = tanhf(proj[e]);
    const float slope = __fsub_rn(1.0f, __fmul_rn(th, th));  // d tanh / d proj
    dproj[e] = __fmul_rn(__fmul_rn(g, s[c <= n ? 0 : 1]), slope);
  }
}

// Block `chunk` sums tokens [chunk * chunk_rows, + chunk_rows) (clamped to N) in ascending order; thread e < nP owns
// column e = i P + c of proj: partials[chunk] = (plain (nP), weighted (nP)) with plain = sum of the gradient g of
// A[., i, c] and weighted = sum of g tanh(proj[., i, c]), in double.
__global__ void hc_coeffs_partials_kernel(double* partials, const float* dh_pre, const float* dh_post,
                                          const float* dh_res, const float* proj, std::int64_t N, int n,
                                          std::int64_t chunk_rows) {
  const int P = n + 2, nP = n * P, e = static_cast<int>(threadIdx.x);
  if (e >= nP) return;
  const int i = e / P, c = e % P;
  const std::int64_t begin = static_cast<std::int64_t>(blockIdx.x) * chunk_rows;
  const std::int64_t end = begin + chunk_rows < N ? begin + chunk_rows : N;
  double plain = 0.0, weighted = 0.0;
  for (std::int64_t t = begin; t < end; ++t) {
    const double g = coefficient_grad(dh_pre, dh_post, dh_res, t, i, c, n);
    plain += g;
    weighted += g * static_cast<double>(tanhf(proj[t * nP + e]));
  }
  double* out = partials + static_cast<std::int64_t>(blockIdx.x) * 2 * nP;
  out[e] = plain;
  out[nP + e] = weighted;
}

// One block. Thread e < nP adds the chunks' plain sums of column e (ascending) to dam, dar or dbb; thread nP adds
// the weighted sums of the columns c <= n to ds[0], thread nP + 1 those of the columns c = n + 1 to ds[1] (columns
// ascending, chunks ascending within each).
__global__ void hc_coeffs_finish_kernel(float* ds, float* dam, float* dar, float* dbb, const double* partials,
                                        std::int64_t chunks, int n) {
  const int P = n + 2, nP = n * P, e = static_cast<int>(threadIdx.x);
  if (e < nP) {
    double total = 0.0;
    for (std::int64_t k = 0; k < chunks; ++k) total += partials[k * 2 * nP + e];
    const int i = e / P, c = e % P;
    float* dst = c == 0 ? dam + i : (c <= n ? dar + i * n + (c - 1) : dbb + i);
    *dst = __fadd_rn(*dst, static_cast<float>(total));
  } else if (e < nP + 2) {
    const int which = e - nP;  // 0: s_a (columns c <= n), 1: s_b (column n + 1)
    double total = 0.0;
    for (int col = 0; col < nP; ++col) {
      if ((col % P == n + 1) != (which == 1)) continue;
      for (std::int64_t k = 0; k < chunks; ++k) total += partials[k * 2 * nP + nP + col];
    }
    ds[which] = __fadd_rn(ds[which], static_cast<float>(total));
  }
}

void check_extents(const char* kernel, std::int64_t N, int n) {
  MHC_CHECK(n >= 1 && n <= 8, ShapeError, kernel, ": n = ", n, " outside [1, 8]");
  MHC_CHECK(N >= 0, ShapeError, kernel, ": negative token count N = ", N);
}

unsigned int elementwise_blocks(std::int64_t total, const char* kernel) {
  return grid_blocks(total < kMaxBlocks * kThreads ? total : kMaxBlocks * kThreads, kThreads, kernel);
}

}  // namespace

void launch_hc_coeffs_forward(float* h_pre, float* h_post, float* h_res, const float* proj, const float* s,
                              const float* am, const float* ar, const float* bb, std::int64_t N, int n,
                              StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  const char* kernel = "hc_coeffs_forward_kernel";
  check_extents(kernel, N, n);
  const std::int64_t total = N * n * (n + 2);
  if (total == 0) return;
  launch(kernel, hc_coeffs_forward_kernel, elementwise_blocks(total, kernel), kThreads, 0, stream, h_pre, h_post, h_res,
         proj, s, am, ar, bb, total, n);
}

void launch_hc_coeffs_dproj(float* dproj, const float* dh_pre, const float* dh_post, const float* dh_res,
                            const float* proj, const float* s, std::int64_t N, int n, StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  const char* kernel = "hc_coeffs_dproj_kernel";
  check_extents(kernel, N, n);
  const std::int64_t total = N * n * (n + 2);
  if (total == 0) return;
  launch(kernel, hc_coeffs_dproj_kernel, elementwise_blocks(total, kernel), kThreads, 0, stream, dproj, dh_pre, dh_post,
         dh_res, proj, s, total, n);
}

void launch_hc_coeffs_weight_sums(float* ds, float* dam, float* dar, float* dbb, const float* dh_pre,
                                  const float* dh_post, const float* dh_res, const float* proj, std::int64_t N, int n,
                                  StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  const char* kernel = "hc_coeffs_partials_kernel";
  check_extents(kernel, N, n);
  if (N == 0) return;  // nothing to add
  // The chunking depends on N alone, so the summation order (and the bits) repeat from run to run.
  std::int64_t chunks = (N + kChunkRows - 1) / kChunkRows < kMaxChunks ? (N + kChunkRows - 1) / kChunkRows : kMaxChunks;
  const std::int64_t chunk_rows = (N + chunks - 1) / chunks;
  chunks = (N + chunk_rows - 1) / chunk_rows;
  const std::int64_t nP = static_cast<std::int64_t>(n) * (n + 2);
  DeviceScratch partials(chunks * 2 * nP * static_cast<std::int64_t>(sizeof(double)), stream_handle, kernel);
  launch(kernel, hc_coeffs_partials_kernel, static_cast<unsigned int>(chunks), kSumThreads, 0, stream,
         partials.as<double>(), dh_pre, dh_post, dh_res, proj, N, n, chunk_rows);
  launch("hc_coeffs_finish_kernel", hc_coeffs_finish_kernel, 1, kSumThreads, 0, stream, ds, dam, dar, dbb,
         partials.as<double>(), chunks, n);
}

}  // namespace mhc::kernels
