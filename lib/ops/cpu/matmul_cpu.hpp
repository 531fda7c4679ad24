// CPU GEMM through the GEMM library chosen at configure time (ops/cpu/blas/, CMake MHC_CPU_BLAS).
#pragma once

#include <cstdint>

namespace mhc::ops::cpu {

// Row-major C (M, N) = alpha * op(A) op(B) + beta * C with leading dimensions lda, ldb, ldc.
template <typename T>
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A,
          std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc);

}  // namespace mhc::ops::cpu
