// The cuBLASLt stand-in of the CUDA simulator (include/cublasLt.h): the GEMM in double accumulation, rounded once
// to fp32 (or bf16 for a bf16 D), queued on the stream.
#include <cublasLt.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <cuda_bf16.h>
#include <vector>

struct cublasLtContext {};

namespace {

std::size_t element_bytes(cudaDataType_t t) { return t == CUDA_R_32F ? 4 : 2; }

// Element k of a matrix of type t, as a float.
float load(const void* base, cudaDataType_t t, std::int64_t k) {
  if (t == CUDA_R_32F) return static_cast<const float*>(base)[k];
  return __bfloat162float(static_cast<const __nv_bfloat16*>(base)[k]);
}

// TF32 keeps 10 mantissa bits: round to nearest even (the FAST_TF32 compute type's input rounding).
float round_tf32(float x) {
  std::uint32_t u = 0;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) == 0x7f800000u) return x;
  u += 0xfffu + ((u >> 13) & 1u);
  u &= ~0x1fffu;
  std::memcpy(&x, &u, 4);
  return x;
}

// Bytes spanned by a column-major layout.
std::size_t span(const cublasLtMatrixLayoutOpaque_t& l) {
  if (l.rows == 0 || l.cols == 0) return 0;
  return (static_cast<std::size_t>(l.cols - 1) * static_cast<std::size_t>(l.ld) + l.rows) * element_bytes(l.type);
}

}  // namespace

const char* cublasLtGetStatusName(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS:
      return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED:
      return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_INVALID_VALUE:
      return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_EXECUTION_FAILED:
      return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_NOT_SUPPORTED:
      return "CUBLAS_STATUS_NOT_SUPPORTED";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}
const char* cublasLtGetStatusString(cublasStatus_t s) {
  return s == CUBLAS_STATUS_SUCCESS ? "success" : "the cuBLASLt stand-in of the CUDA simulator refused the call";
}

cublasStatus_t cublasLtCreate(cublasLtHandle_t* handle) {
  *handle = new cublasLtContext();
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtDestroy(cublasLtHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* desc, cublasComputeType_t compute, cudaDataType_t scale) {
  if (scale != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
  *desc = new cublasLtMatmulDescOpaque_t{compute, scale};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc) {
  delete desc;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr,
                                              const void* buf, std::size_t size) {
  if (size != sizeof(std::int32_t)) return CUBLAS_STATUS_INVALID_VALUE;
  std::int32_t v = 0;
  std::memcpy(&v, buf, size);
  if (attr == CUBLASLT_MATMUL_DESC_TRANSA) {
    desc->trans_a = static_cast<cublasOperation_t>(v);
  } else if (attr == CUBLASLT_MATMUL_DESC_TRANSB) {
    desc->trans_b = static_cast<cublasOperation_t>(v);
  } else {
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* layout, cudaDataType_t type, std::uint64_t rows,
                                          std::uint64_t cols, std::int64_t ld) {
  if (type != CUDA_R_32F && type != CUDA_R_16BF) return CUBLAS_STATUS_NOT_SUPPORTED;
  if (ld < static_cast<std::int64_t>(rows) || ld < 1) return CUBLAS_STATUS_INVALID_VALUE;
  *layout = new cublasLtMatrixLayoutOpaque_t{type, rows, cols, ld};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout) {
  delete layout;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* pref) {
  *pref = new cublasLtMatmulPreferenceOpaque_t();
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref) {
  delete pref;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                                    cublasLtMatmulPreferenceAttributes_t attr, const void* buf,
                                                    std::size_t size) {
  if (attr == CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES) {
    if (size != sizeof(std::uint64_t)) return CUBLAS_STATUS_INVALID_VALUE;
    std::memcpy(&pref->max_workspace, buf, size);
  }
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
                                              cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                              cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
                                              cublasLtMatmulPreference_t pref, int requested,
                                              cublasLtMatmulHeuristicResult_t* results, int* found) {
  if (handle == nullptr || desc == nullptr || a == nullptr || b == nullptr || c == nullptr || d == nullptr ||
      pref == nullptr || requested < 1 || results == nullptr || found == nullptr)
    return CUBLAS_STATUS_INVALID_VALUE;
  results[0] = cublasLtMatmulHeuristicResult_t{};
  results[0].state = CUBLAS_STATUS_SUCCESS;
  results[0].wavesCount = 1.0f;
  *found = 1;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, const void* alpha_p, const void* a,
                              cublasLtMatrixLayout_t a_layout, const void* b, cublasLtMatrixLayout_t b_layout,
                              const void* beta_p, const void* c, cublasLtMatrixLayout_t c_layout, void* d,
                              cublasLtMatrixLayout_t d_layout, const cublasLtMatmulAlgo_t* algo, void*, std::size_t,
                              cudaStream_t stream) {
  if (handle == nullptr || desc == nullptr || algo == nullptr || alpha_p == nullptr || beta_p == nullptr)
    return CUBLAS_STATUS_INVALID_VALUE;
  const cublasLtMatrixLayoutOpaque_t A = *a_layout, B = *b_layout, C = *c_layout, D = *d_layout;
  const bool ta = desc->trans_a == CUBLAS_OP_T, tb = desc->trans_b == CUBLAS_OP_T;
  const std::uint64_t m = ta ? A.cols : A.rows, k = ta ? A.rows : A.cols;
  const std::uint64_t kb = tb ? B.cols : B.rows, n = tb ? B.rows : B.cols;
  if (k != kb || C.rows != m || C.cols != n || D.rows != m || D.cols != n || C.type != D.type || C.ld != D.ld)
    return CUBLAS_STATUS_INVALID_VALUE;
  using cuda_sim::detail::is_device_range;
  if ((span(A) > 0 && !is_device_range(a, span(A))) || (span(B) > 0 && !is_device_range(b, span(B))) ||
      (span(C) > 0 && !is_device_range(c, span(C))) || (span(D) > 0 && !is_device_range(d, span(D))))
    return CUBLAS_STATUS_INVALID_VALUE;
  float alpha = 0, beta = 0;
  std::memcpy(&alpha, alpha_p, 4);
  std::memcpy(&beta, beta_p, 4);
  const bool tf32 = desc->compute == CUBLAS_COMPUTE_32F_FAST_TF32;
  cuda_sim::detail::enqueue_work(stream, [=] {
    // op(A) as m rows of k and op(B)^T as n rows of k (inputs rounded as the compute type does), then dot products.
    auto rows = [tf32](const void* base, const cublasLtMatrixLayoutOpaque_t& L, bool trans, std::uint64_t count,
                       std::uint64_t depth, bool row_is_column) {
      std::vector<double> out(static_cast<std::size_t>(count * depth));
      for (std::uint64_t r = 0; r < count; ++r)
        for (std::uint64_t p = 0; p < depth; ++p) {
          // Element (r, p) of op(A) (row_is_column false) or (p, r) of op(B) (true), in column-major storage.
          const std::uint64_t i = row_is_column ? p : r, j = row_is_column ? r : p;
          const bool t = trans;
          const std::int64_t at = t ? static_cast<std::int64_t>(i) * L.ld + static_cast<std::int64_t>(j)
                                    : static_cast<std::int64_t>(j) * L.ld + static_cast<std::int64_t>(i);
          float v = load(base, L.type, at);
          if (tf32) v = round_tf32(v);
          out[static_cast<std::size_t>(r * depth + p)] = v;
        }
      return out;
    };
    const std::vector<double> ra = rows(a, A, ta, m, k, false), rb = rows(b, B, tb, n, k, true);
    for (std::uint64_t j = 0; j < n; ++j)
      for (std::uint64_t i = 0; i < m; ++i) {
        const double* x = ra.data() + i * k;
        const double* y = rb.data() + j * k;
        double acc = 0.0;
        for (std::uint64_t p = 0; p < k; ++p) acc += x[p] * y[p];
        double r = static_cast<double>(alpha) * acc;
        const std::int64_t at = static_cast<std::int64_t>(j) * D.ld + static_cast<std::int64_t>(i);
        if (beta != 0.0f) r += static_cast<double>(beta) * load(c, C.type, static_cast<std::int64_t>(j) * C.ld + i);
        if (D.type == CUDA_R_32F) {
          static_cast<float*>(d)[at] = static_cast<float>(r);
        } else {
          static_cast<__nv_bfloat16*>(d)[at] = __float2bfloat16_rn(static_cast<float>(r));
        }
      }
  });
  return CUBLAS_STATUS_SUCCESS;
}
