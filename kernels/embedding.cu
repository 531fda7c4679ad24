// Token embedding kernels: the forward copies one row per block; the weight gradient sorts (id, position) pairs
// with CUB's stable radix sort, then the first block of each run of equal ids sums the run's dout rows in order.
#include "core/device_scratch.hpp"
#include "kernels/cuda_check.cuh"
#include "kernels/embedding.hpp"
#include "kernels/launch.cuh"

#include <cub/device/device_radix_sort.cuh>

#include <cstddef>
#include <limits>


namespace mhc::kernels {

namespace {

constexpr int kThreads = 128;

// Block n copies table row ids[n] to out row n.
__global__ void embedding_forward_kernel(float* __restrict__ out, const std::int32_t* __restrict__ ids,
                                         const float* __restrict__ table, std::int64_t C) {
  const std::int64_t n = blockIdx.x;
  const float* row = table + static_cast<std::int64_t>(ids[n]) * C;
  float* o = out + n * C;
  for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) o[c] = row[c];
}

__global__ void iota_kernel(std::int32_t* out, std::int64_t N) {
  const std::int64_t k = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k < N) out[k] = static_cast<std::int32_t>(k);
}

// Block i handles the run of equal ids starting at sorted index i (and returns at once unless i starts a run):
// dtable[id, c] = (((dtable[id, c] + dout[p0, c]) + dout[p1, c]) + ...) over the run's positions p0 < p1 < ...
__global__ void embedding_backward_weight_kernel(float* __restrict__ dtable, const float* __restrict__ dout,
                                                 const std::uint32_t* __restrict__ sorted_ids,
                                                 const std::int32_t* __restrict__ positions, std::int64_t N,
                                                 std::int64_t C) {
  const std::int64_t begin = blockIdx.x;
  const std::uint32_t id = sorted_ids[begin];
  if (begin > 0 && sorted_ids[begin - 1] == id) return;
  std::int64_t end = begin + 1;
  while (end < N && sorted_ids[end] == id) ++end;
  float* row = dtable + static_cast<std::int64_t>(id) * C;
  for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float acc = row[c];
    for (std::int64_t k = begin; k < end; ++k)
      acc = __fadd_rn(acc, dout[static_cast<std::int64_t>(positions[k]) * C + c]);
    row[c] = acc;
  }
}

// Bytes rounded up to the 256-byte alignment of the scratch sub-buffers.
std::size_t aligned_bytes(std::size_t bytes) { return (bytes + 255) / 256 * 256; }

}  // namespace

void launch_embedding_forward(float* out, const std::int32_t* ids, const float* table, std::int64_t N,
                              std::int64_t C, StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  MHC_CHECK(N >= 0 && C >= 0, ShapeError, "embedding_forward_kernel: negative extent N = ", N, ", C = ", C);
  if (N == 0 || C == 0) return;
  const unsigned int blocks = grid_blocks(N, 1, "embedding_forward_kernel");
  launch("embedding_forward_kernel", embedding_forward_kernel, blocks, kThreads, 0, stream, out, ids, table, C);
}

void launch_embedding_backward_weight(float* dtable, const float* dout, const std::int32_t* ids, std::int64_t N,
                                      std::int64_t V, std::int64_t C, StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  const char* kernel = "embedding_backward_weight_kernel";
  MHC_CHECK(N >= 0 && V >= 0 && C >= 0, ShapeError, kernel, ": negative extent N = ", N, ", V = ", V, ", C = ", C);
  if (N == 0 || C == 0) return;
  MHC_CHECK(V >= 1 && N <= std::numeric_limits<int>::max() && V - 1 <= std::numeric_limits<std::int32_t>::max(),
            ShapeError, kernel, ": N = ", N, " or V = ", V, " outside the 32-bit sort");
  int end_bit = 1;  // ids < V fit in end_bit bits
  while (end_bit < 32 && ((V - 1) >> end_bit) != 0) ++end_bit;
  const int n = static_cast<int>(N);
  const auto* keys_in = reinterpret_cast<const std::uint32_t*>(ids);  // ids >= 0: the same order as unsigned

  std::size_t sort_bytes = 0;
  cudaError_t e = cub::DeviceRadixSort::SortPairs(nullptr, sort_bytes, keys_in, static_cast<std::uint32_t*>(nullptr),
                                                  static_cast<const std::int32_t*>(nullptr),
                                                  static_cast<std::int32_t*>(nullptr), n, 0, end_bit, stream);
  MHC_CHECK(e == cudaSuccess, DeviceError, kernel, ": CUB sort size query failed: ", cudaGetErrorString(e));
  const std::size_t ints = aligned_bytes(static_cast<std::size_t>(N) * 4);
  DeviceScratch scratch(static_cast<std::int64_t>(3 * ints + aligned_bytes(sort_bytes > 0 ? sort_bytes : 1)),
                        stream_handle, kernel);
  auto* base = scratch.as<std::byte>();
  auto* sorted_ids = reinterpret_cast<std::uint32_t*>(base);
  auto* positions_in = reinterpret_cast<std::int32_t*>(base + ints);
  auto* positions = reinterpret_cast<std::int32_t*>(base + 2 * ints);
  void* sort_temp = base + 3 * ints;

  launch("iota_kernel", iota_kernel, grid_blocks(N, 256, "iota_kernel"), 256, 0, stream, positions_in, N);
  e = cub::DeviceRadixSort::SortPairs(sort_temp, sort_bytes, keys_in, sorted_ids, positions_in, positions, n, 0,
                                      end_bit, stream);
  MHC_CHECK(e == cudaSuccess, DeviceError, kernel, ": CUB radix sort failed: ", cudaGetErrorString(e));
  check_launch("cub::DeviceRadixSort::SortPairs");
  launch(kernel, embedding_backward_weight_kernel, grid_blocks(N, 1, kernel), kThreads, 0, stream, dtable, dout,
         sorted_ids, positions, N, C);
}

}  // namespace mhc::kernels
