// GEMM on the GPU through cuBLASLt, fp32 in and out with fp32 accumulation; the CPU oracle is ops::cpu::gemm.
#pragma once

#include <cstdint>

#include "core/stream.hpp"

namespace mhc::kernels {

// Row-major out (M, N) = alpha * op(a) op(b) + beta * out, op(a) (M, K) = trans_a ? a^T : a with a stored
// (M, K) or (K, M), op(b) (K, N) = trans_b ? b^T : b with b stored (K, N) or (N, K); densely packed rows.
// beta == 0 overwrites out without reading it (NaNs there do not propagate); K == 0 gives out = beta * out.
// Exact fp32 (CUBLAS_COMPUTE_32F, no TF32 or other down-conversion of the inputs) unless set_matmul_tf32(true).
// Deterministic: the same call on the same device gives the same bits (fixed algorithm per shape, stream and
// pointer alignment; split-K only through a separate fp32 reduction pass, never in place or with atomics).
// Asynchronous on `stream`, whose 32 MiB workspace is allocated on first use and kept for the process.
// M, N, K > INT32_MAX throw ShapeError; cuBLAS errors throw DeviceError naming the call and the shape.
void matmul_f32(float* out, const float* a, const float* b, std::int64_t M, std::int64_t N, std::int64_t K,
                bool trans_a, bool trans_b, float alpha, float beta, StreamHandle stream);

// Process-wide switch for matmul_f32: true lets cuBLASLt round the inputs to TF32 (CUBLAS_COMPUTE_32F_FAST_TF32,
// ~1e-3 relative error, faster on tensor cores); false (the default) keeps exact fp32. Affects calls made after it.
void set_matmul_tf32(bool enabled);

}  // namespace mhc::kernels
