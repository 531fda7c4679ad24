// Launch helpers for the kernels: launch errors become mhc::DeviceError naming the kernel; checked grid sizes.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <limits>

#include "core/error.hpp"
#include "core/stream.hpp"

namespace mhc::kernels {

// Throws DeviceError naming `kernel` when the launch just made failed (bad configuration, no kernel image, ...).
// Errors of earlier asynchronous work that surface here are reported too. With sync-debug on (core/stream.hpp) the
// device is synchronised here, so a kernel that faults while running is named too.
inline void check_launch(const char* kernel) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw DeviceError(detail::concat(kernel, ": kernel launch failed: ", cudaGetErrorString(e)));
  if (!cuda_sync_debug()) return;
  e = cudaDeviceSynchronize();
  if (e != cudaSuccess)
    throw DeviceError(detail::concat(kernel, ": kernel failed while running (sync-debug): ", cudaGetErrorString(e)));
}

// ceil(count / per_block) blocks for a 1-D grid (count >= 1), checked against the 2^31 - 1 limit of gridDim.x.
inline unsigned int grid_blocks(std::int64_t count, std::int64_t per_block, const char* kernel) {
  const std::int64_t blocks = (count + per_block - 1) / per_block;
  MHC_CHECK(blocks >= 1 && blocks <= std::numeric_limits<int>::max(), ShapeError, kernel, ": ", blocks,
            " blocks do not fit a 1-D grid");
  return static_cast<unsigned int>(blocks);
}

// True when p is aligned for 16-byte (float4) loads and stores.
inline bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

}  // namespace mhc::kernels
