// CPU GEMM implementation (OpenBLAS through the CBLAS interface, or a reference loop without BLAS).
#include "ops/cpu/matmul_cpu.hpp"

#include <limits>

#include "core/error.hpp"

#ifdef MHC_HAVE_BLAS
extern "C" {
// CBLAS declarations (row-major = 101, no-trans = 111, trans = 112), declared here so no cblas.h variant is needed.
void cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
                 int ldb, float beta, float* c, int ldc);
void cblas_dgemm(int order, int ta, int tb, int m, int n, int k, double alpha, const double* a, int lda,
                 const double* b, int ldb, double beta, double* c, int ldc);
}
#endif

namespace mhc::ops::cpu {

namespace {

#ifdef MHC_HAVE_BLAS
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

int blas_int(std::int64_t v, const char* what) {
  MHC_CHECK(v <= std::numeric_limits<int>::max(), ShapeError, what, " = ", v, " exceeds the 32-bit BLAS interface");
  return static_cast<int>(v);
}

void blas_gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
               float beta, float* c, int ldc) {
  cblas_sgemm(kRowMajor, ta ? kTrans : kNoTrans, tb ? kTrans : kNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void blas_gemm(bool ta, bool tb, int m, int n, int k, double alpha, const double* a, int lda, const double* b, int ldb,
               double beta, double* c, int ldc) {
  cblas_dgemm(kRowMajor, ta ? kTrans : kNoTrans, tb ? kTrans : kNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
#endif

}  // namespace

template <typename T>
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A,
          std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc) {
  if (M == 0 || N == 0) return;
#ifdef MHC_HAVE_BLAS
  if (K == 0) {
    for (std::int64_t i = 0; i < M; ++i)
      for (std::int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    return;
  }
  blas_gemm(trans_a, trans_b, blas_int(M, "M"), blas_int(N, "N"), blas_int(K, "K"), alpha, A, blas_int(lda, "lda"), B,
            blas_int(ldb, "ldb"), beta, C, blas_int(ldc, "ldc"));
#else
  // Reference loop: i-k-j order so the inner loop streams rows of B and C. Rows are independent and each is summed
  // in the same order on any thread count, so threads do not change a bit.
#pragma omp parallel for schedule(static) if (M * N * K >= (1 << 20))
  for (std::int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    for (std::int64_t j = 0; j < N; ++j) c[j] = beta == T(0) ? T(0) : beta * c[j];
    for (std::int64_t k = 0; k < K; ++k) {
      const T a = alpha * (trans_a ? A[k * lda + i] : A[i * lda + k]);
      if (!trans_b) {
        const T* b = B + k * ldb;
        for (std::int64_t j = 0; j < N; ++j) c[j] += a * b[j];
      } else {
        for (std::int64_t j = 0; j < N; ++j) c[j] += a * B[j * ldb + k];
      }
    }
  }
#endif
}

template void gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*, std::int64_t,
                          const float*, std::int64_t, float, float*, std::int64_t);
template void gemm<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, double, const double*, std::int64_t,
                           const double*, std::int64_t, double, double*, std::int64_t);

}  // namespace mhc::ops::cpu
