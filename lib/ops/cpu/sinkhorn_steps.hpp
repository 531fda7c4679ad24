// Sinkhorn-Knopp steps of the CPU kernels, shared by the Sinkhorn op and the fused mHC backward: the per-token
// scalar steps (any n) and the same steps on groups of kLanes tokens side by side in vector lanes (n = kN a
// compile-time constant). Every function is inlined into the ISA variant of the loop that calls it
// (ops/cpu/parallel_for.hpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "ops/cpu/simd.hpp"

namespace mhc::ops::cpu::sinkhorn_steps {

using simd::kLanes;  // tokens per group
using simd::Lanes;

// Index of the largest logit (the first one on ties).
template <typename T>
inline int argmax(const T* m, int count) {
  int best = 0;
  for (int k = 1; k < count; ++k)
    if (m[k] > m[best]) best = k;
  return best;
}

// out = exp(logits - max(logits)) on one n x n matrix.
template <typename T>
inline void shifted_exp(T* out, const T* logits, int n) {
  const T max = logits[argmax(logits, n * n)];
  for (int k = 0; k < n * n; ++k) out[k] = std::exp(logits[k] - max);
}

// The lines of an n x n matrix: the columns (kColumns), element (i, j) with j the line and i the position in it,
// or the rows. Index of position b in line a.
template <bool kColumns>
MHC_INLINE int line_index(int a, int b, int n) {
  return kColumns ? b * n + a : a * n + b;
}

// Each line (column or row) of `in` divided by (its sum + eps), written to `out`; out may equal in. V is T for one
// matrix or Lanes<T> for a group of matrices side by side in vector lanes (the same operations per lane).
template <bool kColumns, typename V, typename T>
MHC_INLINE void normalise(V* out, const V* in, int n, T eps) {
  for (int a = 0; a < n; ++a) {
    V sum = {};
    for (int b = 0; b < n; ++b) sum += in[line_index<kColumns>(a, b, n)];
    const V denom = sum + eps;
    for (int b = 0; b < n; ++b) out[line_index<kColumns>(a, b, n)] = in[line_index<kColumns>(a, b, n)] / denom;
  }
}

// Backward of y = m / (line sum(m) + eps) per line, in place on g: dy -> dm = (dy - sum dy*y) / (line sum + eps).
template <bool kColumns, typename V, typename T>
MHC_INLINE void normalise_backward(V* g, const V* y, const V* m, int n, T eps) {
  for (int a = 0; a < n; ++a) {
    V sum = {}, dot = {};
    for (int b = 0; b < n; ++b) {
      const int k = line_index<kColumns>(a, b, n);
      sum += m[k];
      dot += g[k] * y[k];
    }
    const V denom = sum + eps;
    for (int b = 0; b < n; ++b) {
      const int k = line_index<kColumns>(a, b, n);
      g[k] = (g[k] - dot) / denom;
    }
  }
}

// One token of sinkhorn_forward: h = exp(logits - max), then `iters` column and row normalisations in place.
template <typename T>
inline void sinkhorn_forward_token(T* h, const T* logits, int n, int iters, T eps) {
  shifted_exp(h, logits, n);
  for (int it = 0; it < iters; ++it) {
    normalise<true>(h, h, n, eps);
    normalise<false>(h, h, n, eps);
  }
}

// One token of sinkhorn_backward; its is scratch for the 2 iters + 1 iterates of n x n.
template <typename T>
inline void sinkhorn_backward_token(T* dlogits, const T* dh, const T* logits, T* its, int n, int iters, T eps) {
  const int nn = n * n;
  const T* l = logits;
  shifted_exp(its, l, n);
  for (int it = 0; it < iters; ++it) {
    T* before = its + 2 * it * nn;
    normalise<true>(before + nn, before, n, eps);
    normalise<false>(before + 2 * nn, before + nn, n, eps);
  }

  T* g = dlogits;  // gradient w.r.t. the current iterate, walked back to the logits in place
  for (int k = 0; k < nn; ++k) g[k] = dh[k];
  for (int it = iters - 1; it >= 0; --it) {
    const T* before = its + 2 * it * nn;
    normalise_backward<false>(g, before + 2 * nn, before + nn, n, eps);
    normalise_backward<true>(g, before + nn, before, n, eps);
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

// sinkhorn_forward for the count tokens of one group.
template <typename T, int kN>
MHC_INLINE void sinkhorn_forward_group(T* h, const T* logits, int count, int iters, T eps) {
  constexpr int nn = kN * kN;
  Lanes<T> m[nn];
  shifted_exp_group<T, kN>(m, logits, count);
  for (int it = 0; it < iters; ++it) {
    normalise<true>(m, m, kN, eps);
    normalise<false>(m, m, kN, eps);
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
    normalise<true>(before + nn, before, kN, eps);
    normalise<false>(before + 2 * nn, before + nn, kN, eps);
  }
  Lanes<T> g[nn];
  for (int k = 0; k < nn; ++k) g[k] = Lanes<T>{};
  for (int l = 0; l < count; ++l)
    for (int k = 0; k < nn; ++k) g[k][l] = dh[l * nn + k];
  for (int it = iters - 1; it >= 0; --it) {
    const Lanes<T>* before = its + 2 * it * nn;
    normalise_backward<false>(g, before + 2 * nn, before + nn, kN, eps);
    normalise_backward<true>(g, before + nn, before, kN, eps);
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

// Scratch for the iterates of one group (2 iters + 1 iterates of nn vectors), aligned for the vectors; one per thread.
template <typename T>
class GroupIterates {
 public:
  GroupIterates(int nn, int iters) : buffer_(static_cast<std::size_t>((2 * iters + 1) * nn + 1) * kLanes) {
    const auto misalign = reinterpret_cast<std::uintptr_t>(buffer_.data()) % sizeof(Lanes<T>);
    data_ = reinterpret_cast<Lanes<T>*>(buffer_.data() +
                                        (misalign == 0 ? 0 : (sizeof(Lanes<T>) - misalign) / sizeof(T)));
  }
  Lanes<T>* data() { return data_; }

 private:
  std::vector<T> buffer_;
  Lanes<T>* data_;
};

}  // namespace mhc::ops::cpu::sinkhorn_steps
