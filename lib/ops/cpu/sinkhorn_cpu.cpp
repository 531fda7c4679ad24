// CPU Sinkhorn-Knopp: the fp reference for the CUDA kernel (same summation order: i ascending, then + eps);
// tokens split over OpenMP threads, each computed by one thread, so results do not depend on the thread count.
// For n = 1, 2, 4, 8 groups of kLanes tokens run side by side in vector lanes (n a compile-time constant), with the
// same operations per token as the scalar path; the group loops are compiled per ISA (ops/cpu/parallel_for.hpp).
#include "ops/cpu/sinkhorn_cpu.hpp"

#include "ops/cpu/parallel_for.hpp"
#include "ops/cpu/simd.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
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

using simd::kLanes;  // tokens per group
using simd::Lanes;

// m[k] lane l = exp(logits of token t0 + l - their max), for the count <= kLanes tokens of the group (other lanes 1).
template <typename T, int kN>
MHC_INLINE void shifted_exp_group(Lanes<T>* m, const T* logits, int count) {
  constexpr int nn = kN * kN;
  for (int k = 0; k < nn; ++k) m[k] = Lanes<T>{} + T(1);
  for (int l = 0; l < count; ++l) {
    T e[nn];
    shifted_exp(e, logits + l * nn, kN);
    for (int k = 0; k < nn; ++k) m[k][l] = e[k];
  }
}

template <typename T, int kN>
MHC_INLINE void normalise_columns_group(Lanes<T>* out, const Lanes<T>* in, T eps) {
  for (int j = 0; j < kN; ++j) {
    Lanes<T> sum = {};
    for (int i = 0; i < kN; ++i) sum += in[i * kN + j];
    const Lanes<T> denom = sum + eps;
    for (int i = 0; i < kN; ++i) out[i * kN + j] = in[i * kN + j] / denom;
  }
}

template <typename T, int kN>
MHC_INLINE void normalise_rows_group(Lanes<T>* out, const Lanes<T>* in, T eps) {
  for (int i = 0; i < kN; ++i) {
    Lanes<T> sum = {};
    for (int j = 0; j < kN; ++j) sum += in[i * kN + j];
    const Lanes<T> denom = sum + eps;
    for (int j = 0; j < kN; ++j) out[i * kN + j] = in[i * kN + j] / denom;
  }
}

template <typename T, int kN>
MHC_INLINE void normalise_columns_backward_group(Lanes<T>* g, const Lanes<T>* y, const Lanes<T>* m, T eps) {
  for (int j = 0; j < kN; ++j) {
    Lanes<T> sum = {}, dot = {};
    for (int i = 0; i < kN; ++i) {
      sum += m[i * kN + j];
      dot += g[i * kN + j] * y[i * kN + j];
    }
    const Lanes<T> denom = sum + eps;
    for (int i = 0; i < kN; ++i) g[i * kN + j] = (g[i * kN + j] - dot) / denom;
  }
}

template <typename T, int kN>
MHC_INLINE void normalise_rows_backward_group(Lanes<T>* g, const Lanes<T>* y, const Lanes<T>* m, T eps) {
  for (int i = 0; i < kN; ++i) {
    Lanes<T> sum = {}, dot = {};
    for (int j = 0; j < kN; ++j) {
      sum += m[i * kN + j];
      dot += g[i * kN + j] * y[i * kN + j];
    }
    const Lanes<T> denom = sum + eps;
    for (int j = 0; j < kN; ++j) g[i * kN + j] = (g[i * kN + j] - dot) / denom;
  }
}

// sinkhorn_forward for the count tokens of one group.
template <typename T, int kN>
MHC_INLINE void sinkhorn_forward_group(T* h, const T* logits, int count, int iters, T eps) {
  constexpr int nn = kN * kN;
  Lanes<T> m[nn];
  shifted_exp_group<T, kN>(m, logits, count);
  for (int it = 0; it < iters; ++it) {
    normalise_columns_group<T, kN>(m, m, eps);
    normalise_rows_group<T, kN>(m, m, eps);
  }
  for (int l = 0; l < count; ++l)
    for (int k = 0; k < nn; ++k) h[l * nn + k] = m[k][l];
}

// sinkhorn_backward_token for the count tokens of one group; its holds the 2 iters + 1 iterates of nn vectors.
template <typename T, int kN>
MHC_INLINE void sinkhorn_backward_group(T* dlogits, const T* dh, const T* logits, Lanes<T>* its, int count, int iters,
                                        T eps) {
  constexpr int nn = kN * kN;
  shifted_exp_group<T, kN>(its, logits, count);
  for (int it = 0; it < iters; ++it) {
    Lanes<T>* before = its + 2 * it * nn;
    normalise_columns_group<T, kN>(before + nn, before, eps);
    normalise_rows_group<T, kN>(before + 2 * nn, before + nn, eps);
  }
  Lanes<T> g[nn];
  for (int k = 0; k < nn; ++k) g[k] = Lanes<T>{};
  for (int l = 0; l < count; ++l)
    for (int k = 0; k < nn; ++k) g[k][l] = dh[l * nn + k];
  for (int it = iters - 1; it >= 0; --it) {
    const Lanes<T>* before = its + 2 * it * nn;
    normalise_rows_backward_group<T, kN>(g, before + 2 * nn, before + nn, eps);
    normalise_columns_backward_group<T, kN>(g, before + nn, before, eps);
  }
  Lanes<T> shift_grad = {};
  for (int k = 0; k < nn; ++k) {
    g[k] *= its[k];
    shift_grad += g[k];
  }
  for (int l = 0; l < count; ++l) {
    T* out = dlogits + l * nn;
    for (int k = 0; k < nn; ++k) out[k] = g[k][l];
    out[argmax(logits + l * nn, nn)] -= shift_grad[l];
  }
}

// body(g) for every group g of kLanes tokens of N, split over OpenMP threads; body must be always_inline.
template <typename Body>
void for_each_group(std::int64_t N, const Body& body) {
  parallel_for_blocks((N + kLanes - 1) / kLanes, 4, body);
}

// Calls fn(std::integral_constant<int, kN>) with kN = n for n in {1, 2, 4, 8}, else kN = 0 (the per-token path).
template <typename Fn>
void with_matrix_size(int n, Fn&& fn) {
  switch (n) {
    case 1: fn(std::integral_constant<int, 1>{}); break;
    case 2: fn(std::integral_constant<int, 2>{}); break;
    case 4: fn(std::integral_constant<int, 4>{}); break;
    case 8: fn(std::integral_constant<int, 8>{}); break;
    default: fn(std::integral_constant<int, 0>{}); break;
  }
}

}  // namespace

template <typename T>
void sinkhorn_forward(T* h, const T* logits, std::int64_t N, int n, int iters, T eps) {
  const std::int64_t nn = static_cast<std::int64_t>(n) * n;
  with_matrix_size(n, [&](auto kn) {
    constexpr int kN = decltype(kn)::value;
    if constexpr (kN > 0) {
      for_each_group(N, [&](std::int64_t g) __attribute__((always_inline)) {
        const std::int64_t t0 = g * kLanes;
        const int count = static_cast<int>(std::min<std::int64_t>(kLanes, N - t0));
        sinkhorn_forward_group<T, kN>(h + t0 * nn, logits + t0 * nn, count, iters, eps);
      });
    } else {
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
  });
}

template <typename T>
void sinkhorn_backward(T* dlogits, const T* dh, const T* logits, std::int64_t N, int n, int iters, T eps) {
  const int nn = n * n;
  with_matrix_size(n, [&](auto kn) {
    constexpr int kN = decltype(kn)::value;
    if constexpr (kN > 0) {
#pragma omp parallel
      {
        // The group's iterates, one buffer per thread (as in the per-token path below), aligned for the vectors.
        std::vector<T> its(static_cast<std::size_t>((2 * iters + 1) * nn + 1) * kLanes);
        const auto misalign = reinterpret_cast<std::uintptr_t>(its.data()) % sizeof(Lanes<T>);
        Lanes<T>* it_data = reinterpret_cast<Lanes<T>*>(
            its.data() + (misalign == 0 ? 0 : (sizeof(Lanes<T>) - misalign) / sizeof(T)));
        const std::int64_t groups = (N + kLanes - 1) / kLanes;
        const auto body = [&](std::int64_t g) __attribute__((always_inline)) {
          const std::int64_t t0 = g * kLanes;
          const int count = static_cast<int>(std::min<std::int64_t>(kLanes, N - t0));
          sinkhorn_backward_group<T, kN>(dlogits + t0 * nn, dh + t0 * nn, logits + t0 * nn, it_data, count, iters,
                                         eps);
        };
#pragma omp for schedule(static)
        for (std::int64_t g = 0; g < groups; ++g) index_range(body, g, g + 1);
      }
    } else {
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
  });
}

template void sinkhorn_forward<float>(float*, const float*, std::int64_t, int, int, float);
template void sinkhorn_forward<double>(double*, const double*, std::int64_t, int, int, double);
template void sinkhorn_backward<float>(float*, const float*, const float*, std::int64_t, int, int, float);
template void sinkhorn_backward<double>(double*, const double*, const double*, std::int64_t, int, int, double);

}  // namespace mhc::ops::cpu
