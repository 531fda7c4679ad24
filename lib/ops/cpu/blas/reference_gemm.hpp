// A plain triple-loop GEMM: the CPU matmul when no library is linked (MHC_CPU_BLAS=none), and oneDNN's dgemm.
#pragma once

#include <cstdint>

namespace mhc::ops::cpu::blas {

// Row-major C (m, n) = alpha * op(A) op(B) + beta * C. i-k-j order so the inner loop streams rows of B and C. Rows
// are independent and each is summed in the same order on any thread count, so threads do not change a bit.
template <typename T>
void reference_gemm(bool trans_a, bool trans_b, int m, int n, int k, T alpha, const T* a, int lda, const T* b, int ldb,
                    T beta, T* c, int ldc) {
  const std::int64_t M = m, N = n, K = k;
#pragma omp parallel for schedule(static) if (M * N * K >= (1 << 20))
  for (std::int64_t i = 0; i < M; ++i) {
    T* ci = c + i * ldc;
    for (std::int64_t j = 0; j < N; ++j) ci[j] = beta == T(0) ? T(0) : beta * ci[j];
    for (std::int64_t p = 0; p < K; ++p) {
      const T s = alpha * (trans_a ? a[p * lda + i] : a[i * lda + p]);
      if (!trans_b) {
        const T* bp = b + p * ldb;
        for (std::int64_t j = 0; j < N; ++j) ci[j] += s * bp[j];
      } else {
        for (std::int64_t j = 0; j < N; ++j) ci[j] += s * b[j * ldb + p];
      }
    }
  }
}

}  // namespace mhc::ops::cpu::blas
