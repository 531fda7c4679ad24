// cuBLASLt GEMM: a handle per device, a workspace per (device, stream), and a plan (descriptors, layouts, chosen
// algorithm) per (device, stream, shape, transposes, compute type, pointer alignments), each created on first use
// under one mutex and kept for the life of the process (never destroyed, so nothing runs after CUDA's teardown).
#include "kernels/matmul_cublaslt.hpp"

#include <cublasLt.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <utility>

#include "kernels/cuda_calls.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/launch.cuh"

namespace mhc::kernels {

namespace {

constexpr std::size_t kWorkspaceBytes = std::size_t(32) << 20;  // per stream: room for split-K partials
constexpr int kScaleThreads = 256;
constexpr std::int64_t kMaxScaleThreads = std::int64_t(4096) * kScaleThreads;

std::atomic<bool> g_tf32{false};

// The product being computed, for error messages.
struct GemmShape {
  std::int64_t M, N, K;
  bool trans_a, trans_b;
};

void check_cublas(cublasStatus_t status, const char* call, const GemmShape& s) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw DeviceError(detail::concat(call, " failed: ", cublasLtGetStatusName(status), " (",
                                   cublasLtGetStatusString(status), ") for matmul M ", s.M, " N ", s.N, " K ", s.K,
                                   " trans_a ", s.trans_a, " trans_b ", s.trans_b));
}

// The largest power of two (4 to 256 bytes) dividing the address: the alignment the algorithm may assume.
std::uint32_t alignment_of(const void* p) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  std::uint32_t bytes = 256;
  while (bytes > 4 && address % bytes != 0) bytes /= 2;
  return bytes;
}

struct PlanKey {
  int device;
  std::uintptr_t stream;
  std::int64_t M, N, K;
  bool trans_a, trans_b, tf32;
  std::uint32_t align_a, align_b, align_out;

  bool operator<(const PlanKey& o) const {
    return std::tie(device, stream, M, N, K, trans_a, trans_b, tf32, align_a, align_b, align_out) <
           std::tie(o.device, o.stream, o.M, o.N, o.K, o.trans_a, o.trans_b, o.tf32, o.align_a, o.align_b,
                    o.align_out);
  }
};

struct DescDeleter {
  void operator()(cublasLtMatmulDesc_t d) const { cublasLtMatmulDescDestroy(d); }
};
struct LayoutDeleter {
  void operator()(cublasLtMatrixLayout_t l) const { cublasLtMatrixLayoutDestroy(l); }
};
struct PreferenceDeleter {
  void operator()(cublasLtMatmulPreference_t p) const { cublasLtMatmulPreferenceDestroy(p); }
};
using DescPtr = std::unique_ptr<cublasLtMatmulDescOpaque_t, DescDeleter>;
using LayoutPtr = std::unique_ptr<cublasLtMatrixLayoutOpaque_t, LayoutDeleter>;
using PreferencePtr = std::unique_ptr<cublasLtMatmulPreferenceOpaque_t, PreferenceDeleter>;

// Everything one cublasLtMatmul call needs besides the data pointers and scalars. In cuBLAS's column-major terms
// the row-major out (M, N) is out^T (N, M) = op(b)^T op(a)^T, so cuBLAS's A is our b and its B is our a.
struct Plan {
  cublasLtHandle_t handle;
  DescPtr desc;
  LayoutPtr b_layout, a_layout, out_layout;  // cuBLAS's A, B, and C = D
  cublasLtMatmulAlgo_t algo;
  void* workspace;
};

// The row-major (rows, cols) matrix as a column-major (cols, rows) layout with leading dimension cols.
LayoutPtr row_major_layout(std::int64_t rows, std::int64_t cols, const GemmShape& s) {
  cublasLtMatrixLayout_t layout = nullptr;
  check_cublas(cublasLtMatrixLayoutCreate(&layout, CUDA_R_32F, static_cast<std::uint64_t>(cols),
                                          static_cast<std::uint64_t>(rows), cols),
               "cublasLtMatrixLayoutCreate", s);
  return LayoutPtr(layout);
}

template <typename V>
void set_desc(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t attr, V value, const GemmShape& s) {
  check_cublas(cublasLtMatmulDescSetAttribute(d, attr, &value, sizeof(value)), "cublasLtMatmulDescSetAttribute", s);
}

template <typename V>
void set_pref(cublasLtMatmulPreference_t p, cublasLtMatmulPreferenceAttributes_t attr, V value, const GemmShape& s) {
  check_cublas(cublasLtMatmulPreferenceSetAttribute(p, attr, &value, sizeof(value)),
               "cublasLtMatmulPreferenceSetAttribute", s);
}

class PlanCache {
 public:
  // The plan for `key`, created (with the device's handle and the stream's workspace) on first use.
  const Plan& get(const PlanKey& key, const GemmShape& s) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = plans_.find(key);
    if (found != plans_.end()) return *found->second;
    auto plan = make_plan(key, s);
    return *plans_.emplace(key, std::move(plan)).first->second;
  }

 private:
  cublasLtHandle_t handle(int device, const GemmShape& s) {
    auto found = handles_.find(device);
    if (found != handles_.end()) return found->second;
    cublasLtHandle_t h = nullptr;
    check_cublas(cublasLtCreate(&h), "cublasLtCreate", s);
    handles_.emplace(device, h);
    return h;
  }

  void* workspace(int device, std::uintptr_t stream) {
    const auto key = std::make_pair(device, stream);
    auto found = workspaces_.find(key);
    if (found != workspaces_.end()) return found->second;
    void* w = nullptr;
    check_cuda(cudaMalloc(&w, kWorkspaceBytes), "cudaMalloc (cuBLASLt workspace)");
    workspaces_.emplace(key, w);
    return w;
  }

  std::unique_ptr<Plan> make_plan(const PlanKey& key, const GemmShape& s) {
    auto plan = std::make_unique<Plan>();
    plan->handle = handle(key.device, s);
    plan->workspace = workspace(key.device, key.stream);

    cublasLtMatmulDesc_t desc = nullptr;
    const cublasComputeType_t compute = key.tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    check_cublas(cublasLtMatmulDescCreate(&desc, compute, CUDA_R_32F), "cublasLtMatmulDescCreate", s);
    plan->desc.reset(desc);
    set_desc<std::int32_t>(desc, CUBLASLT_MATMUL_DESC_TRANSA, key.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, s);
    set_desc<std::int32_t>(desc, CUBLASLT_MATMUL_DESC_TRANSB, key.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, s);
    plan->b_layout = key.trans_b ? row_major_layout(key.N, key.K, s) : row_major_layout(key.K, key.N, s);
    plan->a_layout = key.trans_a ? row_major_layout(key.K, key.M, s) : row_major_layout(key.M, key.K, s);
    plan->out_layout = row_major_layout(key.M, key.N, s);

    cublasLtMatmulPreference_t raw_pref = nullptr;
    check_cublas(cublasLtMatmulPreferenceCreate(&raw_pref), "cublasLtMatmulPreferenceCreate", s);
    const PreferencePtr pref(raw_pref);
    set_pref<std::uint64_t>(raw_pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, kWorkspaceBytes, s);
    // Split-K only with fp32 partials in the workspace, summed in a separate pass in a fixed order: no in-place
    // reduction through the output (INPLACE) and no partials rounded to the output type (OUTPUT_TYPE, which
    // would matter for a bf16 output).
    set_pref<std::uint32_t>(raw_pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
                            CUBLASLT_REDUCTION_SCHEME_NONE | CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE, s);
    if (!key.tf32) {
      // Exact fp32: exclude any implementation that rounds the inputs to a narrower type.
      const std::uint64_t narrow_inputs = CUBLASLT_NUMERICAL_IMPL_FLAGS_INPUT_16F |
                                          CUBLASLT_NUMERICAL_IMPL_FLAGS_INPUT_16BF |
                                          CUBLASLT_NUMERICAL_IMPL_FLAGS_INPUT_TF32;
      set_pref<std::uint64_t>(raw_pref, CUBLASLT_MATMUL_PREF_IMPL_MASK, ~narrow_inputs, s);
    }
    // The heuristic assumes 256-byte aligned pointers unless told otherwise (slices of tensors may be less).
    set_pref<std::uint32_t>(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.align_b, s);
    set_pref<std::uint32_t>(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.align_a, s);
    set_pref<std::uint32_t>(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.align_out, s);
    set_pref<std::uint32_t>(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.align_out, s);

    // The heuristic is a pure function of its inputs; taking its best pick once and keeping it fixes the
    // algorithm (and so the summation order and the bits) for this key.
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    check_cublas(cublasLtMatmulAlgoGetHeuristic(plan->handle, desc, plan->b_layout.get(), plan->a_layout.get(),
                                                plan->out_layout.get(), plan->out_layout.get(), pref.get(), 1,
                                                &result, &found),
                 "cublasLtMatmulAlgoGetHeuristic", s);
    if (found < 1) check_cublas(CUBLAS_STATUS_NOT_SUPPORTED, "cublasLtMatmulAlgoGetHeuristic (no algorithm)", s);
    plan->algo = result.algo;
    return plan;
  }

  std::mutex mutex_;
  std::map<int, cublasLtHandle_t> handles_;
  std::map<std::pair<int, std::uintptr_t>, void*> workspaces_;
  std::map<PlanKey, std::unique_ptr<Plan>> plans_;
};

PlanCache& plan_cache() {
  static PlanCache* cache = new PlanCache();  // never destroyed: see the file comment
  return *cache;
}

// out[i] = beta * out[i], and exactly 0 where beta == 0 (as BLAS: out is not read then).
__global__ void scale_kernel(float* out, std::int64_t count, float beta) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride)
    out[i] = beta == 0.0f ? 0.0f : beta * out[i];
}

}  // namespace

void set_matmul_tf32(bool enabled) { g_tf32.store(enabled); }

void matmul_f32(float* out, const float* a, const float* b, std::int64_t M, std::int64_t N, std::int64_t K,
                bool trans_a, bool trans_b, float alpha, float beta, StreamHandle stream_handle) {
  const cudaStream_t stream = native_stream(stream_handle);
  const GemmShape s{M, N, K, trans_a, trans_b};
  constexpr std::int64_t kMaxExtent = std::numeric_limits<std::int32_t>::max();
  // cuBLASLt layouts take 64-bit rows, cols and leading dimensions, but "usually only values that can be expressed
  // as int32_t are supported" for rows and cols; numel may exceed 2^31.
  MHC_CHECK(M >= 0 && N >= 0 && K >= 0 && M <= kMaxExtent && N <= kMaxExtent && K <= kMaxExtent, ShapeError,
            "matmul_f32: extents M ", M, " N ", N, " K ", K, " must lie in [0, 2^31 - 1] for cuBLASLt");
  if (M == 0 || N == 0 || (K == 0 && beta == 1.0f)) return;
  if (K == 0) {
    const std::int64_t count = M * N;
    const std::int64_t threads = count < kMaxScaleThreads ? count : kMaxScaleThreads;  // grid-stride beyond
    launch("matmul scale_kernel", scale_kernel, grid_blocks(threads, kScaleThreads, "matmul scale_kernel"),
           kScaleThreads, 0, stream, out, count, beta);
    return;
  }
  int device = 0;
  check_cuda(cudaGetDevice(&device), "matmul_f32: cudaGetDevice");
  const PlanKey key{device, reinterpret_cast<std::uintptr_t>(stream), M, N, K, trans_a, trans_b, g_tf32.load(),
                    alignment_of(a), alignment_of(b), alignment_of(out)};
  const Plan& plan = plan_cache().get(key, s);
  check_cublas(cublasLtMatmul(plan.handle, plan.desc.get(), &alpha, b, plan.b_layout.get(), a, plan.a_layout.get(),
                              &beta, out, plan.out_layout.get(), out, plan.out_layout.get(), &plan.algo,
                              plan.workspace, kWorkspaceBytes, stream),
               "cublasLtMatmul", s);
}

}  // namespace mhc::kernels
