// The CUDA simulator against what CUDA defines: thread and block indices, barriers, shuffles and votes with their
// masks and widths, dynamic shared memory, stream and event order, launch-configuration checks.
#include <catch2/catch.hpp>
#include <cuda_runtime.h>

#include <numeric>
#include <vector>

#include "kernels/launch.cuh"
#include "sim_support.hpp"

using cuda_sim::test::DeviceArray;
using mhc::kernels::launch;

namespace {

__global__ void index_kernel(int* out) {
  const int tid = static_cast<int>(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z));
  const int block = static_cast<int>(blockIdx.x + gridDim.x * blockIdx.y);
  out[block * static_cast<int>(blockDim.x * blockDim.y * blockDim.z) + tid] = block * 1000 + tid;
}

// Block sum through shared memory and a barrier, then a warp butterfly: every thread gets the total.
__global__ void block_total_kernel(float* out, const float* in) {
  __shared__ float partial[8];
  const int t = static_cast<int>(threadIdx.x), lane = t & 31, warp = t >> 5;
  float v = in[blockIdx.x * blockDim.x + t];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  float total = 0;
  for (int w = 0; w < static_cast<int>(blockDim.x) / 32; ++w) total += partial[w];
  out[blockIdx.x * blockDim.x + t] = total;
}

// out[lane] for each shuffle kind with width 16: idx 3, up 2, down 5, xor 9.
__global__ void shuffle_kinds_kernel(int* out) {
  const int lane = static_cast<int>(threadIdx.x);
  out[lane] = __shfl_sync(0xffffffffu, lane * 10, 3, 16);
  out[32 + lane] = __shfl_up_sync(0xffffffffu, lane * 10, 2, 16);
  out[64 + lane] = __shfl_down_sync(0xffffffffu, lane * 10, 5, 16);
  out[96 + lane] = __shfl_xor_sync(0xffffffffu, lane * 10, 9, 16);
}

// Lanes 0-15 and 16-31 shuffle within their own half masks; votes over the even lanes.
__global__ void split_mask_kernel(int* out) {
  const int lane = static_cast<int>(threadIdx.x);
  const unsigned half = lane < 16 ? 0x0000ffffu : 0xffff0000u;
  out[lane] = __shfl_sync(half, lane, lane < 16 ? 0 : 16);
  if ((lane & 1) == 0) {
    const unsigned even = 0x55555555u;
    out[32 + lane] = static_cast<int>(__ballot_sync(even, lane % 4 == 0));
    out[64 + lane] = __any_sync(even, lane == 30) ? 1 : 0;
    out[96 + lane] = __all_sync(even, lane < 30) ? 1 : 0;
  }
  __syncwarp();
}

__global__ void dynamic_shared_kernel(float* out, int n) {
  MHC_DYNAMIC_SHARED(float, buffer);
  const int t = static_cast<int>(threadIdx.x);
  buffer[t] = static_cast<float>(t);
  __syncthreads();
  out[t] = buffer[n - 1 - t];
}

__global__ void add_one_kernel(float* x, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) x[i] += 1.0f;
}

}  // namespace

TEST_CASE("threads and blocks see CUDA's indices", "[cuda_sim]") {
  DeviceArray<int> out(2 * 3 * 4 * 2 * 2);
  launch("index_kernel", index_kernel, dim3(2, 3), dim3(4, 2, 2), 0, nullptr, out.get());
  const std::vector<int> got = out.download();
  for (int b = 0; b < 6; ++b)
    for (int t = 0; t < 16; ++t) CHECK(got[static_cast<std::size_t>(b * 16 + t)] == b * 1000 + t);
}

TEST_CASE("barriers and butterflies give every thread the block total", "[cuda_sim]") {
  std::vector<float> in(3 * 256);
  std::iota(in.begin(), in.end(), 0.0f);
  DeviceArray<float> din(in), dout(in.size());
  launch("block_total_kernel", block_total_kernel, 3, 256, 0, nullptr, dout.get(), din.get());
  const std::vector<float> got = dout.download();
  for (int b = 0; b < 3; ++b) {
    const float expected = std::accumulate(in.begin() + b * 256, in.begin() + (b + 1) * 256, 0.0f);
    for (int t = 0; t < 256; ++t) CHECK(got[static_cast<std::size_t>(b * 256 + t)] == expected);
  }
}

TEST_CASE("shuffles follow CUDA's source-lane rules for a width", "[cuda_sim]") {
  DeviceArray<int> out(128);
  launch("shuffle_kinds_kernel", shuffle_kinds_kernel, 1, 32, 0, nullptr, out.get());
  const std::vector<int> got = out.download();
  for (int lane = 0; lane < 32; ++lane) {
    const int segment = lane / 16 * 16;
    CHECK(got[static_cast<std::size_t>(lane)] == (segment + 3) * 10);
    CHECK(got[static_cast<std::size_t>(32 + lane)] == (lane - 2 >= segment ? lane - 2 : lane) * 10);
    CHECK(got[static_cast<std::size_t>(64 + lane)] == (lane + 5 < segment + 16 ? lane + 5 : lane) * 10);
    CHECK(got[static_cast<std::size_t>(96 + lane)] == ((lane ^ 9) < segment + 16 ? lane ^ 9 : lane) * 10);
  }
}

TEST_CASE("partial masks: shuffles within each mask, votes over the mask's lanes", "[cuda_sim]") {
  DeviceArray<int> out(128);
  launch("split_mask_kernel", split_mask_kernel, 1, 32, 0, nullptr, out.get());
  const std::vector<int> got = out.download();
  for (int lane = 0; lane < 32; ++lane) {
    CHECK(got[static_cast<std::size_t>(lane)] == (lane < 16 ? 0 : 16));
    if (lane % 2 != 0) continue;
    CHECK(static_cast<unsigned>(got[static_cast<std::size_t>(32 + lane)]) == 0x11111111u);
    CHECK(got[static_cast<std::size_t>(64 + lane)] == 1);
    CHECK(got[static_cast<std::size_t>(96 + lane)] == 0);
  }
}

TEST_CASE("dynamic shared memory: the launch's bytes, 48 KiB unless the kernel opts in", "[cuda_sim]") {
  DeviceArray<float> out(64);
  launch("dynamic_shared_kernel", dynamic_shared_kernel, 1, 64, 64 * sizeof(float), nullptr, out.get(), 64);
  const std::vector<float> got = out.download();
  for (int t = 0; t < 64; ++t) CHECK(got[static_cast<std::size_t>(t)] == static_cast<float>(63 - t));

  REQUIRE_THROWS_WITH(launch("dynamic_shared_kernel", dynamic_shared_kernel, 1, 64, 64 * 1024, nullptr, out.get(), 64),
                      Catch::Contains("invalid configuration"));
  REQUIRE(cudaFuncSetAttribute(dynamic_shared_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024) ==
          cudaSuccess);
  launch("dynamic_shared_kernel", dynamic_shared_kernel, 1, 64, 64 * 1024, nullptr, out.get(), 64);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
}

TEST_CASE("launch configurations outside CUDA's limits are launch errors", "[cuda_sim]") {
  DeviceArray<float> x(8);
  REQUIRE_THROWS_WITH(launch("add_one_kernel", add_one_kernel, 1, 1025, 0, nullptr, x.get(), 8),
                      Catch::Contains("invalid configuration"));
  REQUIRE_THROWS_WITH(launch("add_one_kernel", add_one_kernel, dim3(1, 70000), 32, 0, nullptr, x.get(), 8),
                      Catch::Contains("invalid configuration"));
  REQUIRE(cudaGetLastError() == cudaSuccess);  // launch errors are not sticky
}

TEST_CASE("a kernel given a host pointer fails", "[cuda_sim]") {
  std::vector<float> host(8, 0.0f);
  launch("add_one_kernel", add_one_kernel, 1, 32, 0, nullptr, host.data(), 8);
  cuda_sim::test::require_failure("is not in device memory");
}

TEST_CASE("streams run in order, events order streams, copies stage and wait as CUDA's do", "[cuda_sim]") {
  cudaStream_t a = nullptr, b = nullptr;
  REQUIRE(cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking) == cudaSuccess);
  REQUIRE(cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking) == cudaSuccess);
  cudaEvent_t done = nullptr;
  REQUIRE(cudaEventCreateWithFlags(&done, cudaEventDisableTiming) == cudaSuccess);
  DeviceArray<float> x(64);
  std::vector<float> host(64, 1.0f);
  REQUIRE(cudaMemcpyAsync(x.get(), host.data(), 64 * sizeof(float), cudaMemcpyHostToDevice, a) == cudaSuccess);
  host.assign(64, 100.0f);  // the source was staged at the call: this does not reach the device
  launch("add_one_kernel", add_one_kernel, 2, 32, 0, a, x.get(), 64);
  REQUIRE(cudaEventRecord(done, a) == cudaSuccess);
  REQUIRE(cudaStreamWaitEvent(b, done, 0) == cudaSuccess);
  launch("add_one_kernel", add_one_kernel, 2, 32, 0, b, x.get(), 64);
  // To pageable host memory the copy waits for the stream's work (and b waits for a through the event).
  REQUIRE(cudaMemcpyAsync(host.data(), x.get(), 64 * sizeof(float), cudaMemcpyDeviceToHost, b) == cudaSuccess);
  for (float v : host) CHECK(v == 3.0f);
  REQUIRE(cudaEventDestroy(done) == cudaSuccess);
  REQUIRE(cudaStreamDestroy(a) == cudaSuccess);
  REQUIRE(cudaStreamDestroy(b) == cudaSuccess);
}

TEST_CASE("device memory starts as NaN bytes, and copies check their kind", "[cuda_sim]") {
  DeviceArray<float> x(4);
  for (float v : x.download()) CHECK(std::isnan(v));
  std::vector<float> host(4);
  CHECK(cudaMemcpy(host.data(), host.data() + 1, 4, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue);
  cudaGetLastError();
}
