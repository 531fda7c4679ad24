// Copies between tensors on any devices (host<->device through the CUDA hooks).
#pragma once

#include "core/tensor.hpp"

namespace mhc {

// dst and src must have the same shape and dtype; either may live on the CPU or the GPU. Synchronous.
void copy_tensor(Tensor dst, Tensor src);

// Raw copy hook between any two memory spaces (cudaMemcpyDefault on CUDA builds; throws without CUDA).
void device_copy_bytes(void* dst, const void* src, std::int64_t bytes);

}  // namespace mhc
