// CPU Sinkhorn-Knopp: the fp reference for the CUDA kernel (same summation order: i ascending, then + eps);
// tokens split over OpenMP threads, each computed by one thread, so results do not depend on the thread count.
#include "ops/cpu/sinkhorn_cpu.hpp"

#include <cmath>
#include <vector>

namespace mhc::ops::cpu {

namespace {

// Index of the largest logit (the first one on ties).
template <typename T>
int argmax(const T* m, int count) {
  int best = 0;
  for (int k = 1; k < count; ++k)
    if (m[k] > m[best]) best = k;
  return best;
}

// out = exp(logits - max(logits)) on one n x n matrix.
template <typename T>
void shifted_exp(T* out, const T* logits, int n) {
  const T max = logits[argmax(logits, n * n)];
  for (int k = 0; k < n * n; ++k) out[k] = std::exp(logits[k] - max);
}

// Column j of `in` divided by (its sum + eps), written to `out`; out may equal in.
template <typename T>
void normalise_columns(T* out, const T* in, int n, T eps) {
  for (int j = 0; j < n; ++j) {
    T sum = 0;
    for (int i = 0; i < n; ++i) sum += in[i * n + j];
    const T denom = sum + eps;
    for (int i = 0; i < n; ++i) out[i * n + j] = in[i * n + j] / denom;
  }
}

// Row i of `in` divided by (its sum + eps), written to `out`; out may equal in.
template <typename T>
void normalise_rows(T* out, const T* in, int n, T eps) {
  for (int i = 0; i < n; ++i) {
    T sum = 0;
    for (int j = 0; j < n; ++j) sum += in[i * n + j];
    const T denom = sum + eps;
    for (int j = 0; j < n; ++j) out[i * n + j] = in[i * n + j] / denom;
  }
}

// Backward of y = m / (colsum(m) + eps) column-wise, in place on g: dy -> dm = (dy - sum_i dy*y) / (colsum + eps).
template <typename T>
void normalise_columns_backward(T* g, const T* y, const T* m, int n, T eps) {
  for (int j = 0; j < n; ++j) {
    T sum = 0, dot = 0;
    for (int i = 0; i < n; ++i) {
      sum += m[i * n + j];
      dot += g[i * n + j] * y[i * n + j];
    }
    const T denom = sum + eps;
    for (int i = 0; i < n; ++i) g[i * n + j] = (g[i * n + j] - dot) / denom;
  }
}

// Row-wise counterpart of normalise_columns_backward.
template <typename T>
void normalise_rows_backward(T* g, const T* y, const T* m, int n, T eps) {
  for (int i = 0; i < n; ++i) {
    T sum = 0, dot = 0;
    for (int j = 0; j < n; ++j) {
      sum += m[i * n + j];
      dot += g[i * n + j] * y[i * n + j];
    }
    const T denom = sum + eps;
    for (int j = 0; j < n; ++j) g[i * n + j] = (g[i * n + j] - dot) / denom;
  }
}

// One token of sinkhorn_backward; its is scratch for the 2 iters + 1 iterates of n x n.
template <typename T>
void sinkhorn_backward_token(T* dlogits, const T* dh, const T* logits, T* its, int n, int iters, T eps) {
  const int nn = n * n;
  const T* l = logits;
  shifted_exp(its, l, n);
  for (int it = 0; it < iters; ++it) {
    T* before = its + 2 * it * nn;
    normalise_columns(before + nn, before, n, eps);
    normalise_rows(before + 2 * nn, before + nn, n, eps);
  }

  T* g = dlogits;  // gradient w.r.t. the current iterate, walked back to the logits in place
  for (int k = 0; k < nn; ++k) g[k] = dh[k];
  for (int it = iters - 1; it >= 0; --it) {
    const T* before = its + 2 * it * nn;
    normalise_rows_backward(g, before + 2 * nn, before + nn, n, eps);
    normalise_columns_backward(g, before + nn, before, n, eps);
  }
  // Through M = exp(l - max l): dl = dM * M, and the max (the first argmax) gets -sum(dM * M).
  // The shift cancels except in the eps terms, so this last part is tiny but makes the gradient exact.
  T shift_grad = 0;
  for (int k = 0; k < nn; ++k) {
    g[k] *= its[k];
    shift_grad += g[k];
  }
  g[argmax(l, nn)] -= shift_grad;
}

}  // namespace

template <typename T>
void sinkhorn_forward(T* h, const T* logits, std::int64_t N, int n, int iters, T eps) {
  const std::int64_t nn = static_cast<std::int64_t>(n) * n;
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < N; ++t) {
    T* m = h + t * nn;
    shifted_exp(m, logits + t * nn, n);
    for (int it = 0; it < iters; ++it) {
      normalise_columns(m, m, n, eps);
      normalise_rows(m, m, n, eps);
    }
  }
}

template <typename T>
void sinkhorn_backward(T* dlogits, const T* dh, const T* logits, std::int64_t N, int n, int iters, T eps) {
  const int nn = n * n;
#pragma omp parallel
  {
    // Per-token iterates, one buffer per thread: its[0] = exp(logits - max), its[2k + 1] after column step k,
    // its[2k + 2] after row step k.
    std::vector<T> its(static_cast<std::size_t>(2 * iters + 1) * static_cast<std::size_t>(nn));
#pragma omp for schedule(static)
    for (std::int64_t t = 0; t < N; ++t)
      sinkhorn_backward_token(dlogits + t * nn, dh + t * nn, logits + t * nn, its.data(), n, iters, eps);
  }
}

template void sinkhorn_forward<float>(float*, const float*, std::int64_t, int, int, float);
template void sinkhorn_forward<double>(double*, const double*, std::int64_t, int, int, double);
template void sinkhorn_backward<float>(float*, const float*, const float*, std::int64_t, int, int, float);
template void sinkhorn_backward<double>(double*, const double*, const double*, std::int64_t, int, int, double);

}  // namespace mhc::ops::cpu
