// Checked entry points of the matrix products; dispatch to the CPU GEMM or to cuBLASLt.
#include "ops/matmul.hpp"

#include "kernels/matmul_cublaslt.hpp"
#include "ops/cpu/matmul_cpu.hpp"
#include "ops/bf16_staging.hpp"
#include "ops/device_dispatch.hpp"
#include "ops/dispatch.hpp"

namespace mhc::ops {

void set_cuda_matmul_precision(MatmulPrecision precision) {
  kernels::set_matmul_tf32(precision == MatmulPrecision::tf32);
}

void matmul(Tensor out_bf16, Tensor a_bf16, Tensor b_bf16, bool trans_a, bool trans_b, float alpha, float beta) {
  Bf16Staging bf16("matmul");  // bf16 operands: f32 accumulation, as cuBLASLt's bf16 GEMM with f32 compute
  const Tensor out = bf16.output(out_bf16, beta != 0.0f), a = bf16.input(a_bf16), b = bf16.input(b_bf16);
  expect_rank(out, 2, "matmul out");
  expect_rank(a, 2, "matmul a");
  expect_rank(b, 2, "matmul b");
  expect_float(out, "matmul out");
  expect_same_dtype(out, a, "matmul out", "a");
  expect_same_dtype(out, b, "matmul out", "b");
  expect_device(a, out.device, "matmul a");
  expect_device(b, out.device, "matmul b");
  const std::int64_t M = trans_a ? a.dim(1) : a.dim(0), K = trans_a ? a.dim(0) : a.dim(1);
  const std::int64_t Kb = trans_b ? b.dim(1) : b.dim(0), N = trans_b ? b.dim(0) : b.dim(1);
  MHC_CHECK(K == Kb, ShapeError, "inner dimensions differ: op(a) ", M, "x", K, ", op(b) ", Kb, "x", N);
  expect_shape(out, Shape{M, N}, "matmul out");
  if (on_cuda(out, "matmul")) {
    kernels::matmul_f32(out.ptr<float>(), a.ptr<float>(), b.ptr<float>(), M, N, K, trans_a, trans_b, alpha, beta,
                        current_stream());
    return;
  }
  dispatch_cpu_float(out.dtype, "matmul", [&](auto zero) {
    using T = decltype(zero);
    cpu::gemm<T>(trans_a, trans_b, M, N, K, static_cast<T>(alpha), a.ptr<T>(), a.dim(1), b.ptr<T>(), b.dim(1),
                 static_cast<T>(beta), out.ptr<T>(), N);
  });
  bf16.finish();
}

void linear_forward(Tensor y, Tensor x, Tensor w) { matmul(y, x, w, false, true); }

void linear_backward_input(Tensor dx, Tensor dy, Tensor w, bool accumulate) {
  matmul(dx, dy, w, false, false, 1.0f, accumulate ? 1.0f : 0.0f);
}

void linear_backward_weight(Tensor dw, Tensor dy, Tensor x) { matmul(dw, dy, x, true, false, 1.0f, 1.0f); }

}  // namespace mhc::ops
