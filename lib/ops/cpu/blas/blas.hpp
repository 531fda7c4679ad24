// The CPU GEMM library behind ops::cpu::gemm: one file per library in this folder, chosen at configure time
// (CMake MHC_CPU_BLAS, see lib/cpu_blas.cmake). All run on the process's OpenMP thread count.
#pragma once

#include <string>

namespace mhc::ops::cpu::blas {

// What the linked library reports about itself, for `bench ops` / `bench step` and docs/performance.md.
struct Info {
  std::string library;    // e.g. "OpenBLAS", "BLIS", "Intel MKL", "oneDNN", "reference loop"
  std::string version;    // the library's own version string
  std::string kernel;     // the kernel / architecture it chose for this CPU
  std::string threading;  // "openmp", "pthreads" or "sequential"
  int threads = 1;        // threads a large GEMM runs on now
  // Whether the library gives bitwise the same product on any thread count (measured per library, see
  // docs/performance.md; tests/ops/test_cpu_threads.cpp and tests/train/test_trainer.cpp hold it to this).
  bool thread_count_independent = true;
};
Info info();

// Row-major C (m, n) = alpha * op(A) op(B) + beta * C; op(X) = X^T when its flag is set. m, n, k >= 1; the caller
// checks the 32-bit range. beta == 0 overwrites C (NaNs in C do not propagate).
void sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
           int ldb, float beta, float* c, int ldc);
void dgemm(bool trans_a, bool trans_b, int m, int n, int k, double alpha, const double* a, int lda, const double* b,
           int ldb, double beta, double* c, int ldc);

}  // namespace mhc::ops::cpu::blas
