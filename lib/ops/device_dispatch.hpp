// Device dispatch of op entry points: device-agnostic float checks, then the CPU oracle (f32/f64) or CUDA (f32).
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.hpp"

namespace mhc::ops {

// A defined f32 or f64 tensor on any device.
void expect_float(const Tensor& t, const char* what);

// True when `t` lives on the GPU, after checking that it is f32 there (ShapeError otherwise).
// In a build without CUDA a GPU tensor throws DeviceError naming `op`.
bool on_cuda(const Tensor& t, const char* op);

// A host copy of the i32 GPU tensor `t` (e.g. token ids to validate), read on the current stream after the work
// queued there; synchronizes that stream. Throws DeviceError in a build without CUDA.
std::vector<std::int32_t> download_i32(const Tensor& t, const char* what);

}  // namespace mhc::ops
