// CPU GEMM: range checks and the empty cases, then the configured GEMM library (ops/cpu/blas/).
#include "ops/cpu/matmul_cpu.hpp"

#include <limits>

#include "core/error.hpp"
#include "ops/cpu/blas/blas.hpp"

namespace mhc::ops::cpu {

namespace {

int blas_int(std::int64_t v, const char* what) {
  MHC_CHECK(v <= std::numeric_limits<int>::max(), ShapeError, what, " = ", v, " exceeds the 32-bit BLAS interface");
  return static_cast<int>(v);
}

void library_gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
                  float beta, float* c, int ldc) {
  blas::sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void library_gemm(bool ta, bool tb, int m, int n, int k, double alpha, const double* a, int lda, const double* b,
                  int ldb, double beta, double* c, int ldc) {
  blas::dgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace

template <typename T>
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A,
          std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (std::int64_t i = 0; i < M; ++i)
      for (std::int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    return;
  }
  library_gemm(trans_a, trans_b, blas_int(M, "M"), blas_int(N, "N"), blas_int(K, "K"), alpha, A, blas_int(lda, "lda"),
               B, blas_int(ldb, "ldb"), beta, C, blas_int(ldc, "ldc"));
}

template void gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*, std::int64_t,
                          const float*, std::int64_t, float, float*, std::int64_t);
template void gemm<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, double, const double*, std::int64_t,
                           const double*, std::int64_t, double, double*, std::int64_t);

}  // namespace mhc::ops::cpu
