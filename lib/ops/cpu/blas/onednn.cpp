// oneDNN's dnnl_sgemm behind ops::cpu::gemm (OpenMP runtime). oneDNN has no f64 GEMM: f64 products (the tests'
// oracle) run the reference loop.
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include <string>

#include "core/error.hpp"
#include "ops/cpu/blas/blas.hpp"
#include "ops/cpu/blas/reference_gemm.hpp"

namespace mhc::ops::cpu::blas {

namespace {

const char* isa_name(dnnl_cpu_isa_t isa) {
  switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

}  // namespace

Info info() {
  const dnnl_version_t* v = dnnl_version();
  const std::string version = std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                              std::to_string(v->patch) + " (" + v->hash + ")";
  return Info{"oneDNN", version, isa_name(dnnl_get_effective_cpu_isa()),
              v->cpu_runtime == DNNL_RUNTIME_OMP ? "openmp" : "other", omp_get_max_threads()};
}

void sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
           int ldb, float beta, float* c, int ldc) {
  const dnnl_status_t status =
      dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  MHC_CHECK(status == dnnl_success, DeviceError, "dnnl_sgemm failed with status ", static_cast<int>(status));
}

void dgemm(bool trans_a, bool trans_b, int m, int n, int k, double alpha, const double* a, int lda, const double* b,
           int ldb, double beta, double* c, int ldc) {
  reference_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace mhc::ops::cpu::blas
