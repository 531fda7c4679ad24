// OpenBLAS behind ops::cpu::gemm (its OpenMP or its pthreads build; the same source serves both). Its products
// depend on the thread count (runs are reproducible at a fixed one only).
#include <cblas.h>
#include <omp.h>

#include "ops/cpu/blas/blas.hpp"

namespace mhc::ops::cpu::blas {

namespace {

// The OpenMP build follows omp_get_max_threads() by itself; the pthreads build has its own count, kept equal to
// OpenMP's here so that one setting (OMP_NUM_THREADS, omp_set_num_threads) governs every parallel loop.
void follow_openmp_threads() {
  if (openblas_get_parallel() != 1) return;
  const int want = omp_get_max_threads();
  if (openblas_get_num_threads() != want) openblas_set_num_threads(want);
}

CBLAS_TRANSPOSE op(bool t) { return t ? CblasTrans : CblasNoTrans; }

}  // namespace

Info info() {
  follow_openmp_threads();
  const int parallel = openblas_get_parallel();
  return Info{"OpenBLAS", openblas_get_config(), openblas_get_corename(),
              parallel == 2 ? "openmp" : parallel == 1 ? "pthreads" : "sequential",
              parallel == 2 ? omp_get_max_threads() : openblas_get_num_threads(),
              /*thread_count_independent=*/false};  // 0.3.21: 5-75 % of the entries differ between 1 and 2 threads
}

void sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
           int ldb, float beta, float* c, int ldc) {
  follow_openmp_threads();
  cblas_sgemm(CblasRowMajor, op(trans_a), op(trans_b), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void dgemm(bool trans_a, bool trans_b, int m, int n, int k, double alpha, const double* a, int lda, const double* b,
           int ldb, double beta, double* c, int ldc) {
  follow_openmp_threads();
  cblas_dgemm(CblasRowMajor, op(trans_a), op(trans_b), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace mhc::ops::cpu::blas
