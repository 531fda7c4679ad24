// Per-token Sinkhorn-Knopp in registers (spec 2.4), shared by the Sinkhorn kernels and the mHC coefficient kernel.
#pragma once

#include <cuda_runtime.h>

#include "ops/sinkhorn.hpp"

namespace mhc::kernels {

constexpr float kSinkhornEpsF = static_cast<float>(ops::kSinkhornEps);

// Index of the largest of the nn values, the first one on ties (as the CPU oracle picks it); its value in `max`.
// (No m[index] with a runtime index anywhere: that would move the matrix from registers to local memory.)
template <int nn>
__device__ __forceinline__ int sinkhorn_argmax(const float (&m)[nn], float& max) {
  int best = 0;
  max = m[0];
#pragma unroll
  for (int k = 1; k < nn; ++k) {
    if (m[k] > max) {
      max = m[k];
      best = k;
    }
  }
  return best;
}

// Columns of the n x n row-major matrix m divided by (their sum + eps); the sum runs over i ascending from 0.
template <int n>
__device__ __forceinline__ void sinkhorn_normalise_columns(float (&m)[n * n]) {
#pragma unroll
  for (int j = 0; j < n; ++j) {
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < n; ++i) sum += m[i * n + j];
    const float denom = sum + kSinkhornEpsF;
#pragma unroll
    for (int i = 0; i < n; ++i) m[i * n + j] /= denom;
  }
}

// Rows divided by (their sum + eps); the sum runs over j ascending from 0.
template <int n>
__device__ __forceinline__ void sinkhorn_normalise_rows(float (&m)[n * n]) {
#pragma unroll
  for (int i = 0; i < n; ++i) {
    float sum = 0.0f;
#pragma unroll
    for (int j = 0; j < n; ++j) sum += m[i * n + j];
    const float denom = sum + kSinkhornEpsF;
#pragma unroll
    for (int j = 0; j < n; ++j) m[i * n + j] /= denom;
  }
}

// m = exp(m - max m) in place (the first step of the forward).
template <int n>
__device__ __forceinline__ void sinkhorn_shifted_exp(float (&m)[n * n]) {
  float max;
  sinkhorn_argmax<n * n>(m, max);
#pragma unroll
  for (int k = 0; k < n * n; ++k) m[k] = expf(m[k] - max);
}

// m (the logits on entry) = Sinkhorn(m): exp(m - max), then `iters` times columns, rows. The same operations in
// the same order as ops::cpu::sinkhorn_forward (only expf differs from the CPU's exp, by a few ulp).
template <int n>
__device__ __forceinline__ void sinkhorn_in_registers(float (&m)[n * n], int iters) {
  sinkhorn_shifted_exp<n>(m);
  for (int it = 0; it < iters; ++it) {
    sinkhorn_normalise_columns<n>(m);
    sinkhorn_normalise_rows<n>(m);
  }
}

}  // namespace mhc::kernels
