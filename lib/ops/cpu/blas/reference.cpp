// No GEMM library (MHC_CPU_BLAS=none): ops::cpu::gemm runs the reference loop. Slow; for builds without BLAS.
#include <omp.h>

#include "ops/cpu/blas/blas.hpp"
#include "ops/cpu/blas/reference_gemm.hpp"

namespace mhc::ops::cpu::blas {

Info info() { return Info{"reference loop", "", "generic C++", "openmp", omp_get_max_threads()}; }

void sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
           int ldb, float beta, float* c, int ldc) {
  reference_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void dgemm(bool trans_a, bool trans_b, int m, int n, int k, double alpha, const double* a, int lda, const double* b,
           int ldb, double beta, double* c, int ldc) {
  reference_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace mhc::ops::cpu::blas
