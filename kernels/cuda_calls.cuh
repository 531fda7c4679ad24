// Checked CUDA runtime calls for the launchers: errors become mhc::DeviceError.
#pragma once

#include <cuda_runtime.h>

#include "core/error.hpp"

namespace mhc::kernels {

// Throws DeviceError naming `what` when a runtime call failed.
inline void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw DeviceError(detail::concat(what, " failed: ", cudaGetErrorString(e)));
}

}  // namespace mhc::kernels
