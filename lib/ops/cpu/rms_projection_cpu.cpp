// CPU RMS-reordered projection: a fused register-blocked v phi and per-row rstd (one pass over v), and the backward.
#include "ops/cpu/rms_projection_cpu.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "ops/cpu/matmul_cpu.hpp"

namespace mhc::ops::cpu {

namespace {

// dproj (rows, K) = scale * da * rstd: the gradient w.r.t. proj, needed by both B (dv) and W (dphi).
template <typename T>
std::vector<T> projection_gradient(const T* da, const T* scale, const T* rstd, RmsProjectionDims d) {
  std::vector<T> dproj(static_cast<std::size_t>(d.rows * d.K));
  for (std::int64_t t = 0; t < d.rows; ++t)
    for (std::int64_t k = 0; k < d.K; ++k)
      dproj[static_cast<std::size_t>(t * d.K + k)] = scale[k] * da[t * d.K + k] * rstd[t];
  return dproj;
}

// The forward product runs on blocks of kRows rows times kVecs SIMD vectors of columns, accumulated in registers
// over the D inputs in ascending order (plain multiply then add, no FMA, so every ISA gives the same bits).
constexpr std::int64_t kRows = 4;
constexpr int kVecs = 3;

template <typename T>
struct Simd;  // 32-byte vectors (AVX2 registers where the CPU has them, pairs of SSE registers otherwise)
template <>
struct Simd<float> {
  typedef float type __attribute__((vector_size(32)));
};
template <>
struct Simd<double> {
  typedef double type __attribute__((vector_size(32)));
};
template <typename T>
constexpr std::int64_t kWidth = static_cast<std::int64_t>(32 / sizeof(T));
template <typename T>
constexpr std::int64_t kChunk = kVecs * kWidth<T>;  // columns per register block

// phi (D, K) copied into a 32-byte aligned (D, Kp) block of `buffer` with Kp = K rounded up to whole column chunks,
// the padding zero; returns the block as (D, Kp / kWidth) vectors.
template <typename T>
const typename Simd<T>::type* pack_columns(std::vector<T>& buffer, const T* phi, std::int64_t D, std::int64_t K) {
  const std::int64_t Kp = (K + kChunk<T> - 1) / kChunk<T> * kChunk<T>;
  buffer.assign(static_cast<std::size_t>(D * Kp + kWidth<T>), T(0));
  const auto misalign = reinterpret_cast<std::uintptr_t>(buffer.data()) % 32;
  T* packed = buffer.data() + (misalign == 0 ? 0 : (32 - misalign) / sizeof(T));
  for (std::int64_t c = 0; c < D; ++c)
    for (std::int64_t k = 0; k < K; ++k) packed[c * Kp + k] = phi[c * K + k];
  return reinterpret_cast<const typename Simd<T>::type*>(packed);
}

// sum_c v[c]^2 in 8 fixed partial sums (vectorisable without reassociation), then a fixed tree.
template <typename T>
T sum_of_squares(const T* v, std::int64_t D) {
  T lane[8] = {};
  std::int64_t c = 0;
  for (; c + 8 <= D; c += 8)
    for (int l = 0; l < 8; ++l) lane[l] += v[c + l] * v[c + l];
  T tail = 0;
  for (; c < D; ++c) tail += v[c] * v[c];
  return (((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]))) + tail;
}

// proj rows [t0, t0 + kRows) (clamped to d.rows) = v rows times the packed phi.
template <typename T>
__attribute__((always_inline)) inline void project_rows_impl(T* proj, const T* v, const typename Simd<T>::type* packed,
                                                             std::int64_t t0, RmsProjectionDims d) {
  using V = typename Simd<T>::type;
  const std::int64_t KV = (d.K + kChunk<T> - 1) / kChunk<T> * kVecs;
  const T* row[kRows];
  for (std::int64_t r = 0; r < kRows; ++r) row[r] = v + std::min(t0 + r, d.rows - 1) * d.D;  // tail: repeat last
  for (std::int64_t q0 = 0; q0 < KV; q0 += kVecs) {
    V acc[kRows][kVecs] = {};
    for (std::int64_t c = 0; c < d.D; ++c) {
      const V* p = packed + c * KV + q0;
      for (std::int64_t r = 0; r < kRows; ++r) {
        const T s = row[r][c];
        for (int q = 0; q < kVecs; ++q) acc[r][q] += s * p[q];
      }
    }
    for (std::int64_t r = 0; r < kRows && t0 + r < d.rows; ++r)
      for (std::int64_t k = q0 * kWidth<T>; k < std::min(d.K, (q0 + kVecs) * kWidth<T>); ++k)
        proj[(t0 + r) * d.K + k] = acc[r][k / kWidth<T> - q0][k % kWidth<T>];
  }
}

#define MHC_PROJECT_ROWS(T)                                                                    \
  __attribute__((target("avx2"))) void project_rows_avx2(T* proj, const T* v,                  \
                                                         const typename Simd<T>::type* packed, \
                                                         std::int64_t t0, RmsProjectionDims d) { \
    project_rows_impl<T>(proj, v, packed, t0, d);                                              \
  }                                                                                            \
  void project_rows_generic(T* proj, const T* v, const typename Simd<T>::type* packed,         \
                            std::int64_t t0, RmsProjectionDims d) {                            \
    project_rows_impl<T>(proj, v, packed, t0, d);                                              \
  }
MHC_PROJECT_ROWS(float)
MHC_PROJECT_ROWS(double)
#undef MHC_PROJECT_ROWS

// The same arithmetic either way; AVX2 only makes the 32-byte vectors native.
template <typename T>
void project_rows(T* proj, const T* v, const typename Simd<T>::type* packed, std::int64_t t0, RmsProjectionDims d) {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2)
    project_rows_avx2(proj, v, packed, t0, d);
  else
    project_rows_generic(proj, v, packed, t0, d);
}

}  // namespace

template <typename T>
void rms_projection_forward(T* proj, T* rstd, const T* v, const T* phi, RmsProjectionDims d, T eps) {
  std::vector<T> buffer;
  const auto* packed = pack_columns(buffer, phi, d.D, d.K);
  const std::int64_t blocks = (d.rows + kRows - 1) / kRows;
#pragma omp parallel for schedule(static)
  for (std::int64_t b = 0; b < blocks; ++b) {
    project_rows(proj, v, packed, b * kRows, d);
    for (std::int64_t t = b * kRows; t < std::min(d.rows, (b + 1) * kRows); ++t)
      rstd[t] = T(1) / std::sqrt(sum_of_squares(v + t * d.D, d.D) / static_cast<T>(d.D) + eps);
  }
}

template <typename T>
void rms_projection_backward_input(T* dv, const T* da, const T* scale, const T* v, const T* phi, const T* proj,
                                   const T* rstd, RmsProjectionDims d) {
  const std::vector<T> dproj = projection_gradient(da, scale, rstd, d);
  gemm<T>(false, true, d.rows, d.D, d.K, T(1), dproj.data(), d.K, phi, d.K, T(1), dv, d.D);
  // Through rstd = (mean(v^2) + eps)^(-1/2): d rstd / dv = -rstd^3 v / D; d(rstd) = sum_k dz_k proj_k.
  for (std::int64_t t = 0; t < d.rows; ++t) {
    T drstd = 0;
    for (std::int64_t k = 0; k < d.K; ++k) drstd += scale[k] * da[t * d.K + k] * proj[t * d.K + k];
    const T s = rstd[t];
    const T coef = -drstd * s * s * s / static_cast<T>(d.D);
    for (std::int64_t c = 0; c < d.D; ++c) dv[t * d.D + c] += coef * v[t * d.D + c];
  }
}

template <typename T>
void rms_projection_backward_weight(T* dphi, const T* da, const T* scale, const T* v, const T* rstd,
                                    RmsProjectionDims d) {
  const std::vector<T> dproj = projection_gradient(da, scale, rstd, d);
  gemm<T>(true, false, d.D, d.K, d.rows, T(1), v, d.D, dproj.data(), d.K, T(1), dphi, d.K);
}

#define MHC_INSTANTIATE(T)                                                                                       \
  template void rms_projection_forward<T>(T*, T*, const T*, const T*, RmsProjectionDims, T);                     \
  template void rms_projection_backward_input<T>(T*, const T*, const T*, const T*, const T*, const T*, const T*, \
                                                 RmsProjectionDims);                                             \
  template void rms_projection_backward_weight<T>(T*, const T*, const T*, const T*, const T*, RmsProjectionDims);
MHC_INSTANTIATE(float)
MHC_INSTANTIATE(double)
#undef MHC_INSTANTIATE

}  // namespace mhc::ops::cpu
