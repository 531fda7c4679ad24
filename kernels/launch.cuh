// The one way our kernels are launched: launch() is kernel<<<grid, block, shared, stream>>>(args...) plus the launch
// check under nvcc, and a queued launch on the CUDA simulator (tests/cuda_sim) in the simulator build, so the same
// sources run in both. MHC_DYNAMIC_SHARED declares a kernel's dynamic shared memory in both.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

#include "core/stream.hpp"
#include "kernels/cuda_check.cuh"

#ifdef CUDA_SIM
#define MHC_DYNAMIC_SHARED(type, name) type* name = ::cuda_sim::dynamic_shared<type>()
#else
#define MHC_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif

namespace mhc::kernels {

// The CUDA stream behind the project's stream handle (core/stream.hpp), as launchers take it.
inline cudaStream_t native_stream(StreamHandle s) { return static_cast<cudaStream_t>(s.native); }

// Launches `kernel` and throws DeviceError naming `name` when the launch fails (check_launch).
template <typename... Params, typename... Args>
void launch(const char* name, void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared_bytes,
            cudaStream_t stream, Args&&... args) {
#ifdef CUDA_SIM
  ::cuda_sim::launch(name, kernel, grid, block, shared_bytes, stream, std::forward<Args>(args)...);
#else
  // clang-format off
  kernel<<<grid, block, shared_bytes, stream>>>(std::forward<Args>(args)...);
  // clang-format on
#endif
  check_launch(name);
}

}  // namespace mhc::kernels
