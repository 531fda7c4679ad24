// Matrix products: a general GEMM entry point and the linear-layer forward with its split backward.
#pragma once

#include "core/tensor.hpp"

namespace mhc::ops {

// out (M, N) = alpha * op(a) op(b) + beta * out, op(a) (M, K) = trans_a ? a^T : a, op(b) (K, N) likewise.
// All three 2-D, same float dtype, same device; on the CPU any of them may also be bf16 in an f32 product: bf16
// operands with f32 accumulation, a bf16 out rounded once at the end (ops/bf16_staging.hpp).
void matmul(Tensor out, Tensor a, Tensor b, bool trans_a, bool trans_b, float alpha = 1.0f, float beta = 0.0f);

// How CUDA matrix products compute: exact f32, or TF32 (tensor cores; inputs rounded to 10-bit mantissas, f32
// accumulation). The value of config parallel.matmul.
enum class MatmulPrecision { fp32, tf32 };
// From now on, for the whole process. tf32 in a build without CUDA is a DeviceError.
void set_cuda_matmul_precision(MatmulPrecision precision);

// Linear layer without bias, weight stored (out_features, in_features) as in PyTorch.
// y (N, O) = x (N, I) w^T
void linear_forward(Tensor y, Tensor x, Tensor w);
// B: dx (N, I) = dy (N, O) w (O, I); accumulate adds into dx instead of overwriting.
void linear_backward_input(Tensor dx, Tensor dy, Tensor w, bool accumulate = false);
// W: dw (O, I) += dy^T (O, N) x (N, I)  (always accumulates: gradient accumulation over micro-batches).
void linear_backward_weight(Tensor dw, Tensor dy, Tensor x);

}  // namespace mhc::ops
