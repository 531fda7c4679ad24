// Intel oneMKL behind ops::cpu::gemm (its GNU OpenMP threading layer), in strict conditional-numerical-
// reproducibility mode so that results do not depend on the thread count.
#include <mkl.h>
#include <omp.h>

#include <string>

#include "core/error.hpp"
#include "ops/cpu/blas/blas.hpp"

namespace mhc::ops::cpu::blas {

namespace {

const char* branch_name(int branch) {
  switch (branch) {
    case MKL_CBWR_COMPATIBLE: return "compatible";
    case MKL_CBWR_SSE2: return "sse2";
    case MKL_CBWR_SSE4_2: return "sse4.2";
    case MKL_CBWR_AVX2: return "avx2";
    case MKL_CBWR_AVX512: return "avx512";
    case MKL_CBWR_AVX512_E1: return "avx512_e1";
    case MKL_CBWR_AVX10: return "avx10";
    default: return "unknown";
  }
}

// MKL's threaded GEMM splits the reduction differently on different thread counts unless the strict CNR mode is
// set, which must happen before the first MKL computation.
void ensure_strict_cnr() {
  static const int status = mkl_cbwr_set(MKL_CBWR_AUTO | MKL_CBWR_STRICT);
  MHC_CHECK(status == MKL_CBWR_SUCCESS, DeviceError, "mkl_cbwr_set(MKL_CBWR_AUTO | MKL_CBWR_STRICT) failed: ", status);
}

CBLAS_TRANSPOSE op(bool t) { return t ? CblasTrans : CblasNoTrans; }

}  // namespace

Info info() {
  ensure_strict_cnr();
  char version[256] = {};
  mkl_get_version_string(version, sizeof version);
  return Info{"Intel MKL", version, std::string(branch_name(mkl_cbwr_get_auto_branch())) + " (CNR strict)", "openmp",
              mkl_get_max_threads()};
}

void sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
           int ldb, float beta, float* c, int ldc) {
  ensure_strict_cnr();
  cblas_sgemm(CblasRowMajor, op(trans_a), op(trans_b), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void dgemm(bool trans_a, bool trans_b, int m, int n, int k, double alpha, const double* a, int lda, const double* b,
           int ldb, double beta, double* c, int ldc) {
  ensure_strict_cnr();
  cblas_dgemm(CblasRowMajor, op(trans_a), op(trans_b), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace mhc::ops::cpu::blas
