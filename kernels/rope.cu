// RoPE kernel: one thread per (token, pair) computes its angle's cos and sin in double once and rotates that pair
// in every head; neighbouring threads take neighbouring pairs of a head, so the accesses coalesce.
#include "kernels/rope.hpp"

#include "kernels/cuda_check.cuh"
#include "kernels/launch.cuh"

namespace mhc::kernels {

namespace {

constexpr int kThreads = 256;
constexpr std::int64_t kMaxBlocks = 4096;  // grid-stride beyond this

// out may alias in: every pair is read and then written by the same thread.
__global__ void rope_rotate_kernel(float* out, const float* in, std::int64_t rows, std::int64_t S, std::int64_t H,
                                   std::int64_t D, double theta, bool inverse) {
  const std::int64_t P = D / 2;
  const std::int64_t total = rows * P;
  const std::int64_t stride = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t k = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += stride) {
    const std::int64_t row = k / P, i = k % P, t = row % S;
    const double freq = pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(D));
    double s = 0.0, c = 0.0;
    sincos(static_cast<double>(t) * freq, &s, &c);
    if (inverse) s = -s;
    for (std::int64_t h = 0; h < H; ++h) {
      const std::int64_t at = (row * H + h) * D + 2 * i;
      const double x0 = in[at], x1 = in[at + 1];
      out[at] = static_cast<float>(__dsub_rn(__dmul_rn(x0, c), __dmul_rn(x1, s)));
      out[at + 1] = static_cast<float>(__dadd_rn(__dmul_rn(x0, s), __dmul_rn(x1, c)));
    }
  }
}

}  // namespace

void launch_rope_rotate(float* out, const float* in, std::int64_t B, std::int64_t S, std::int64_t H, std::int64_t D,
                        double theta, bool inverse, StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  MHC_CHECK(B >= 0 && S >= 0 && H >= 0 && D >= 0 && D % 2 == 0, ShapeError, "rope_rotate_kernel: bad extents B = ", B,
            ", S = ", S, ", H = ", H, ", D = ", D);
  const std::int64_t pairs = B * S * (D / 2);
  if (pairs == 0 || H == 0) return;
  const unsigned int blocks =
      grid_blocks(pairs < kMaxBlocks * kThreads ? pairs : kMaxBlocks * kThreads, kThreads, "rope_rotate_kernel");
  launch("rope_rotate_kernel", rope_rotate_kernel, blocks, kThreads, 0, stream, out, in, B * S, S, H, D, theta,
         inverse);
}

}  // namespace mhc::kernels
