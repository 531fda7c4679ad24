// Argument checks shared by the connection-coefficient ops (mHC, HC, head merge): stream tensors and parameters.
#pragma once

#include <cstdint>

#include "core/tensor.hpp"

namespace mhc::ops {

// Most streams any connection op supports (n in 1..kMaxStreams).
constexpr std::int64_t kMaxStreams = 8;

struct StreamExtents {
  std::int64_t N, n, C;
};

// Checks a float stream tensor `ref` (N, n, C) with 1 <= n <= kMaxStreams on the CPU (f32 or f64) or, for ops
// with CUDA kernels (allow_cuda), also on the GPU (f32 there); messages say "<op> <ref_name>".
StreamExtents expect_stream_tensor(const Tensor& ref, const char* op, const char* ref_name, bool allow_cuda = false);

// One argument `what` of `op`: the dtype and device of `ref` (named ref_name), shape s.
void expect_stream_arg(const Tensor& t, const Shape& s, const Tensor& ref, const char* ref_name, const char* op,
                       const char* what);

}  // namespace mhc::ops
