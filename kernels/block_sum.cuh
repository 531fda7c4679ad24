// Deterministic block-wide reductions for the kernels (fixed order for a given blockDim; no atomics).
#pragma once

#include <cuda_runtime.h>

namespace mhc::kernels {

// Sum of one double per thread over the whole block, returned to every thread. The order is fixed by blockDim
// alone (butterfly within each warp, then the warp totals in warp order), so a run repeats its bits.
// blockDim.x must be a multiple of 32 (at most 1024); `scratch` is 32 doubles of shared memory. Contains
// __syncthreads: every thread of the block must call it.
__device__ __forceinline__ double block_sum(double v, double* scratch) {
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
  const int warps = static_cast<int>(blockDim.x) >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  double total = 0.0;
  for (int w = 0; w < warps; ++w) total += scratch[w];
  __syncthreads();  // scratch may be reused by the next call
  return total;
}

// Maximum of one float per thread over the whole block (exact, so order-free), returned to every thread.
// Same contract as block_sum; `scratch` is 32 floats of shared memory.
__device__ __forceinline__ float block_max(float v, float* scratch) {
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
  const int warps = static_cast<int>(blockDim.x) >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float total = scratch[0];
  for (int w = 1; w < warps; ++w) total = fmaxf(total, scratch[w]);
  __syncthreads();
  return total;
}

}  // namespace mhc::kernels
