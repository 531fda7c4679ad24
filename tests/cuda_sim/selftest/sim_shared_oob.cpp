// A deliberately broken kernel whose shared-memory tile index is off by one: thread t writes tile[t + 1], so the
// last thread writes one element past the tile. Under the simulator's ASan build this must abort with a
// global-buffer-overflow report (ctest checks the report); exit 0 would mean the overflow went unnoticed.
#include <cuda_runtime.h>

#include <cstdio>

#include "kernels/launch.cuh"

namespace {

constexpr int kThreads = 64;

__global__ void shift_kernel(float* out, const float* in) {
  __shared__ float tile[kThreads];
  const int t = static_cast<int>(threadIdx.x);
  tile[t + 1] = in[t];  // off by one: t + 1 == kThreads for the last thread
  __syncthreads();
  out[t] = tile[t];
}

}  // namespace

int main() {
  float *in = nullptr, *out = nullptr;
  if (cudaMalloc(&in, kThreads * sizeof(float)) != cudaSuccess ||
      cudaMalloc(&out, kThreads * sizeof(float)) != cudaSuccess)
    return 2;
  cudaMemset(in, 0, kThreads * sizeof(float));
  mhc::kernels::launch("shift_kernel", shift_kernel, 1, kThreads, 0, nullptr, out, in);
  const cudaError_t e = cudaDeviceSynchronize();
  std::printf("the off-by-one kernel ran to the end (%s): the overflow was not detected\n", cudaGetErrorString(e));
  return 0;
}
