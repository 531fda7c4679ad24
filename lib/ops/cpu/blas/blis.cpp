// BLIS behind ops::cpu::gemm (its OpenMP build, through BLIS's own CBLAS layer).
#include <blis.h>
#include <omp.h>

#include "ops/cpu/blas/blas.hpp"

namespace mhc::ops::cpu::blas {

namespace {

// BLIS runs on one thread unless told otherwise (BLIS_NUM_THREADS or a call): keep it at OpenMP's count.
void follow_openmp_threads() {
  const dim_t want = omp_get_max_threads();
  if (bli_thread_get_num_threads() != want) bli_thread_set_num_threads(want);
}

CBLAS_TRANSPOSE op(bool t) { return t ? CblasTrans : CblasNoTrans; }

}  // namespace

Info info() {
  follow_openmp_threads();
  const char* threading = bli_info_get_enable_openmp()     ? "openmp"
                          : bli_info_get_enable_pthreads() ? "pthreads"
                                                           : "sequential";
  return Info{"BLIS", bli_info_get_version_str(), bli_arch_string(bli_arch_query_id()), threading,
              static_cast<int>(bli_thread_get_num_threads())};
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
