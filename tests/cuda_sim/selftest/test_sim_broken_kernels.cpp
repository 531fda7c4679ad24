// Deliberately broken kernels that the simulator must refuse loudly, each beside its correct twin: a missing
// __syncthreads (a shared-memory race), a shuffle mask that leaves out lanes that call it, and a __syncthreads
// that only part of the block reaches. (The off-by-one shared-memory tile is sim_shared_oob.cpp: ASan aborts it.)
#include <catch2/catch.hpp>
#include <cuda_runtime.h>

#include <vector>

#include "kernels/launch.cuh"
#include "sim_support.hpp"

using cuda_sim::test::DeviceArray;
using mhc::kernels::launch;

namespace {

constexpr int kThreads = 128;

// out[b * 128 + t] = in[b * 128 + (t + 1) % 128]: a rotation through a shared tile. Without the barrier a thread
// reads a neighbour's slot before (or after) the neighbour wrote it, depending on the order threads run in.
template <bool kBarrier>
__global__ void rotate_kernel(float* out, const float* in) {
  __shared__ float tile[kThreads];
  const int t = static_cast<int>(threadIdx.x);
  tile[t] = in[blockIdx.x * kThreads + t];
  if (kBarrier) __syncthreads();
  out[blockIdx.x * kThreads + t] = tile[(t + 1) % kThreads];
}

// A warp sum with a mask: the full warp calls it, so a mask missing lanes is wrong.
template <unsigned kMask>
__global__ void warp_sum_kernel(float* out, const float* in) {
  float v = in[threadIdx.x];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kMask, v, o);
  out[threadIdx.x] = v;
}

// Scales by a block-wide maximum computed by warp 0 only; the broken twin also puts the barrier inside the branch.
template <bool kDivergent>
__global__ void scale_by_first_kernel(float* out, const float* in) {
  __shared__ float first;
  const int t = static_cast<int>(threadIdx.x);
  if (t < 32) {
    if (t == 0) first = in[0];
    if (kDivergent) __syncthreads();
  }
  if (!kDivergent) __syncthreads();
  out[t] = in[t] * first;
}

std::vector<float> ramp(int n) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (int k = 0; k < n; ++k) v[static_cast<std::size_t>(k)] = 0.5f * static_cast<float>(k) + 1.0f;
  return v;
}

}  // namespace

TEST_CASE("a missing __syncthreads is a race the simulator reports", "[cuda_sim][broken]") {
  REQUIRE(cuda_sim::race_check());
  const std::vector<float> in = ramp(4 * kThreads);
  DeviceArray<float> din(in), dout(in.size());
  launch("rotate_kernel<true>", rotate_kernel<true>, 4, kThreads, 0, nullptr, dout.get(), din.get());
  const std::vector<float> got = dout.download();
  for (int b = 0; b < 4; ++b)
    for (int t = 0; t < kThreads; ++t)
      CHECK(got[static_cast<std::size_t>(b * kThreads + t)] ==
            in[static_cast<std::size_t>(b * kThreads + (t + 1) % kThreads)]);

  launch("rotate_kernel<false>", rotate_kernel<false>, 4, kThreads, 0, nullptr, dout.get(), din.get());
  cuda_sim::test::require_failure("depends on the order in which the threads of a block run");
}

TEST_CASE("a shuffle mask that leaves out calling lanes is refused", "[cuda_sim][broken]") {
  const std::vector<float> in = ramp(32);
  DeviceArray<float> din(in), dout(32);
  launch("warp_sum_kernel<full>", warp_sum_kernel<0xffffffffu>, 1, 32, 0, nullptr, dout.get(), din.get());
  float total = 0;
  for (float v : in) total += v;
  for (float v : dout.download()) CHECK(v == total);

  launch("warp_sum_kernel<half>", warp_sum_kernel<0x0000ffffu>, 1, 32, 0, nullptr, dout.get(), din.get());
  cuda_sim::test::require_failure("a mask that does not include its own lane");
}

TEST_CASE("a __syncthreads reached by part of the block is refused", "[cuda_sim][broken]") {
  const std::vector<float> in = ramp(kThreads);
  DeviceArray<float> din(in), dout(in.size());
  launch("scale_by_first_kernel<uniform>", scale_by_first_kernel<false>, 1, kThreads, 0, nullptr, dout.get(),
         din.get());
  const std::vector<float> got = dout.download();
  for (int t = 0; t < kThreads; ++t) CHECK(got[static_cast<std::size_t>(t)] == in[static_cast<std::size_t>(t)] * in[0]);

  launch("scale_by_first_kernel<divergent>", scale_by_first_kernel<true>, 1, kThreads, 0, nullptr, dout.get(),
         din.get());
  cuda_sim::test::require_failure("divergent __syncthreads");
}
