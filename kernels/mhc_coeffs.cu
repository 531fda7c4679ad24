// mHC gates: the per-token coefficient kernel (alpha, bias, sigmoid, 2 sigmoid, optionally Sinkhorn in registers)
// and its elementwise backward to dtilde.
#include "kernels/mhc_coeffs.hpp"

#include "kernels/cuda_check.cuh"
#include "kernels/launch.cuh"
#include "kernels/sinkhorn_device.cuh"
#include "kernels/stream_count.cuh"

namespace mhc::kernels {

namespace {

constexpr int kThreads = 128;

// a * (p * s) + b with every step IEEE-rounded: the CPU's alpha * (p * s) + bias.
__device__ __forceinline__ float pre_activation(float a, float p, float s, float b) {
  return __fadd_rn(__fmul_rn(a, __fmul_rn(p, s)), b);
}

// The CPU oracle's overflow-free logistic function.
__device__ __forceinline__ float sigmoid(float v) {
  if (v >= 0.0f) return 1.0f / (1.0f + expf(-v));
  const float e = expf(v);
  return e / (1.0f + e);
}

template <int n>
__global__ void mhc_gates_forward_kernel(float* __restrict__ h_pre, float* __restrict__ h_post,
                                         float* __restrict__ res_logits, float* __restrict__ h_res,
                                         const float* __restrict__ proj, const float* __restrict__ rstd,
                                         const float* __restrict__ alpha, const float* __restrict__ bias,
                                         std::int64_t N, int sinkhorn_iters) {
  constexpr int nn = n * n, K = nn + 2 * n;
  const std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= N) return;
  const float s = rstd[t];
  const float* p = proj + t * K;
  const float a_pre = alpha[0], a_post = alpha[1], a_res = alpha[2];
#pragma unroll
  for (int i = 0; i < n; ++i) {
    h_pre[t * n + i] = sigmoid(pre_activation(a_pre, p[i], s, bias[i]));
    h_post[t * n + i] = 2.0f * sigmoid(pre_activation(a_post, p[n + i], s, bias[n + i]));
  }
  float m[nn];
#pragma unroll
  for (int k = 0; k < nn; ++k) {
    m[k] = pre_activation(a_res, p[2 * n + k], s, bias[2 * n + k]);
    res_logits[t * nn + k] = m[k];
  }
  if (h_res != nullptr) {
    sinkhorn_in_registers<n>(m, sinkhorn_iters);
#pragma unroll
    for (int k = 0; k < nn; ++k) h_res[t * nn + k] = m[k];
  }
}

// Element e = t * K + k of dtilde.
__global__ void mhc_gates_backward_kernel(float* __restrict__ dtilde, const float* __restrict__ dh_pre,
                                          const float* __restrict__ dh_post, const float* __restrict__ dres_logits,
                                          const float* __restrict__ h_pre, const float* __restrict__ h_post,
                                          std::int64_t N, int n) {
  const std::int64_t K = static_cast<std::int64_t>(n) * n + 2 * n;
  const std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= N * K) return;
  const std::int64_t t = e / K, k = e % K;
  float g;
  if (k < n) {
    const float h = h_pre[t * n + k];
    g = __fmul_rn(__fmul_rn(dh_pre[t * n + k], h), 1.0f - h);
  } else if (k < 2 * n) {
    const float h = h_post[t * n + (k - n)];
    g = __fmul_rn(__fmul_rn(dh_post[t * n + (k - n)], h), 1.0f - h / 2.0f);
  } else {
    g = dres_logits[t * n * n + (k - 2 * n)];
  }
  dtilde[e] = g;
}

}  // namespace

void launch_mhc_gates_forward(float* h_pre, float* h_post, float* res_logits, float* h_res, const float* proj,
                              const float* rstd, const float* alpha, const float* bias, std::int64_t N, int n,
                              int sinkhorn_iters, StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  const char* kernel = "mhc_gates_forward_kernel";
  MHC_CHECK(n >= 1 && n <= 8, ShapeError, kernel, ": n = ", n, " outside [1, 8]");
  MHC_CHECK(N >= 0, ShapeError, kernel, ": negative token count ", N);
  MHC_CHECK(h_res == nullptr || sinkhorn_iters >= 1, ShapeError, kernel, ": sinkhorn_iters must be >= 1, got ",
            sinkhorn_iters);
  if (N == 0) return;
  const unsigned int blocks = grid_blocks(N, kThreads, kernel);
  with_stream_count(n, [&](auto kn) {
    launch(kernel, mhc_gates_forward_kernel<decltype(kn)::value>, blocks, kThreads, 0, stream, h_pre, h_post,
           res_logits, h_res, proj, rstd, alpha, bias, N, sinkhorn_iters);
  });
}

void launch_mhc_gates_backward(float* dtilde, const float* dh_pre, const float* dh_post, const float* dres_logits,
                               const float* h_pre, const float* h_post, std::int64_t N, int n,
                               StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  const char* kernel = "mhc_gates_backward_kernel";
  MHC_CHECK(n >= 1 && n <= 8, ShapeError, kernel, ": n = ", n, " outside [1, 8]");
  MHC_CHECK(N >= 0, ShapeError, kernel, ": negative token count ", N);
  if (N == 0) return;
  const std::int64_t K = static_cast<std::int64_t>(n) * n + 2 * n;
  launch(kernel, mhc_gates_backward_kernel, grid_blocks(N * K, 256, kernel), 256, 0, stream, dtilde, dh_pre, dh_post,
         dres_logits, h_pre, h_post, N, n);
}

}  // namespace mhc::kernels
