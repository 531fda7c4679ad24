// Copies between tensors on any devices (host<->device through the CUDA hooks), and zero fills.
#pragma once

#include "core/tensor.hpp"

namespace mhc {

// dst and src must have the same shape and dtype; either may live on the CPU or the GPU. Synchronous.
void copy_tensor(Tensor dst, Tensor src);

// Sets every byte of t to zero (0.0 in every float type) on its device: memset on the CPU, stream-ordered on CUDA.
void zero_tensor(Tensor t);

// Raw copy hook between any two memory spaces (cudaMemcpyDefault on CUDA builds; throws without CUDA).
void device_copy_bytes(void* dst, const void* src, std::int64_t bytes);

}  // namespace mhc
