// Per-token kernels of the CPU stream ops, shared by the stream mixing ops and the fused mHC backward: the
// coefficient-gradient dot products and the stream-gradient mix of one token's (n, C) block. n = kN is a
// compile-time constant (1, 2, 4, 8) or 0 for the runtime path, which performs the same operations in the same
// order per element. Every function is inlined into the ISA variant of the loop that calls it
// (ops/cpu/parallel_for.hpp) and uses plain multiply and add, giving the same bits on every ISA.
#pragma once

#include <cstdint>
#include <type_traits>

#include "ops/cpu/simd.hpp"

namespace mhc::ops::cpu::stream_token {

using simd::for_column_groups;
using simd::kLanes;
using simd::lane_dot;
using simd::lane_sum;
using simd::Lanes;
using simd::load;
using simd::store;

// Calls fn(std::integral_constant<int, kN>) with kN = n for n in {1, 2, 4, 8}, else kN = 0 (runtime n).
template <typename Fn>
inline void with_stream_count(std::int64_t n, Fn&& fn) {
  switch (n) {
    case 1: fn(std::integral_constant<int, 1>{}); break;
    case 2: fn(std::integral_constant<int, 2>{}); break;
    case 4: fn(std::integral_constant<int, 4>{}); break;
    case 8: fn(std::integral_constant<int, 8>{}); break;
    default: fn(std::integral_constant<int, 0>{}); break;
  }
}

// u = sum_i h[i] x[i] for one token (ascending i): the pre-apply u = H_pre x, and the post + res backward's
// dy = sum_i h_post[i] dx_out[i].
template <typename T, int kN>
MHC_INLINE void stream_weighted_sum(T* u, const T* x, const T* h, std::int64_t n_rt, std::int64_t C) {
  if constexpr (kN > 0) {
    T hv[kN];
    for (int i = 0; i < kN; ++i) hv[i] = h[i];
    for_column_groups<T>(C, [&](auto tag, std::int64_t c) __attribute__((always_inline)) {
      using U = decltype(tag);
      U acc = hv[0] * load<U>(x + c);
      for (int i = 1; i < kN; ++i) acc += hv[i] * load<U>(x + i * C + c);
      store(u + c, acc);
    });
  } else {
    for (std::int64_t c = 0; c < C; ++c) u[c] = h[0] * x[c];
    for (std::int64_t i = 1; i < n_rt; ++i)
      for (std::int64_t c = 0; c < C; ++c) u[c] += h[i] * x[i * C + c];
  }
}

// <a[r], b> for the R rows a[r] = a + r * C at once (b loaded once per group), each summed exactly as lane_dot sums.
template <typename T, int R>
MHC_INLINE void lane_dots(T* out, const T* a, const T* b, std::int64_t C) {
  using L = Lanes<T>;
  L acc[R] = {};
  std::int64_t c = 0;
  for (; c + kLanes <= C; c += kLanes) {
    const L bv = load<L>(b + c);
    for (int r = 0; r < R; ++r) acc[r] += load<L>(a + r * C + c) * bv;
  }
  for (int r = 0; r < R; ++r) {
    T tail = 0;
    for (std::int64_t k = c; k < C; ++k) tail += a[r * C + k] * b[k];
    out[r] = lane_sum<T>(acc[r]) + tail;
  }
}

// dh_res[i, j] = <g[i], x[j]> and dh_post[i] = <g[i], y> for one token, each summed exactly as lane_dot sums; for
// kN > 0 one row i per pass (its kN + 1 sums in registers).
template <typename T, int kN>
MHC_INLINE void post_res_token_coeffs(T* dh_res, T* dh_post, const T* g, const T* x, const T* y, std::int64_t n_rt,
                                      std::int64_t C) {
  if constexpr (kN > 0) {
    using L = Lanes<T>;
    const std::int64_t full = C / kLanes * kLanes;
    for (int i = 0; i < kN; ++i) {
      const T* gi = g + i * C;
      L acc[kN + 1] = {};  // acc[kN]: y
      for (std::int64_t c = 0; c < full; c += kLanes) {
        const L gv = load<L>(gi + c);
        for (int j = 0; j < kN; ++j) acc[j] += gv * load<L>(x + j * C + c);
        acc[kN] += gv * load<L>(y + c);
      }
      for (int j = 0; j <= kN; ++j) {
        const T* b = j < kN ? x + j * C : y;
        T tail = 0;
        for (std::int64_t c = full; c < C; ++c) tail += gi[c] * b[c];
        const T sum = lane_sum<T>(acc[j]) + tail;
        if (j < kN)
          dh_res[i * kN + j] = sum;
        else
          dh_post[i] = sum;
      }
    }
  } else {
    for (std::int64_t i = 0; i < n_rt; ++i) {
      for (std::int64_t j = 0; j < n_rt; ++j) dh_res[i * n_rt + j] = lane_dot(g + i * C, x + j * C, C);
      dh_post[i] = lane_dot(g + i * C, y, C);
    }
  }
}

// dh_pre[i] = <x[i], du> for one token, each summed exactly as lane_dot sums.
template <typename T, int kN>
MHC_INLINE void pre_apply_token_backward(T* dh_pre, const T* x, const T* du, std::int64_t n_rt, std::int64_t C) {
  if constexpr (kN > 0) {
    lane_dots<T, kN>(dh_pre, x, du, C);
  } else {
    for (std::int64_t i = 0; i < n_rt; ++i) dh_pre[i] = lane_dot(x + i * C, du, C);
  }
}

// dx[j] (+)= (sum_i h_res[i, j] g[i] + h_pre[j] du) (+ coef x[j]) for one token, per element in that order; dx
// accumulates when kAccumulate, else is overwritten.
template <typename T, int kN, bool kXTerm, bool kAccumulate = true>
MHC_INLINE void mix_token_backward(T* dx, const T* g, const T* du, const T* h_res, const T* h_pre, const T* x, T coef,
                                   std::int64_t n_rt, std::int64_t C) {
  if constexpr (kN > 0) {
    T hr[kN * kN], hp[kN];
    for (int k = 0; k < kN * kN; ++k) hr[k] = h_res[k];
    for (int j = 0; j < kN; ++j) hp[j] = h_pre[j];
    for_column_groups<T>(C, [&](auto tag, std::int64_t c) __attribute__((always_inline)) {
      using U = decltype(tag);
      U gv[kN];
      for (int i = 0; i < kN; ++i) gv[i] = load<U>(g + i * C + c);
      const U duv = load<U>(du + c);
      for (int j = 0; j < kN; ++j) {
        U acc = hr[j] * gv[0];
        for (int i = 1; i < kN; ++i) acc += hr[i * kN + j] * gv[i];
        acc += hp[j] * duv;
        if constexpr (kXTerm) acc += coef * load<U>(x + j * C + c);
        if constexpr (kAccumulate)
          store(dx + j * C + c, load<U>(dx + j * C + c) + acc);
        else
          store(dx + j * C + c, acc);
      }
    });
  } else {
    const std::int64_t n = n_rt;
    for (std::int64_t j = 0; j < n; ++j) {
      for (std::int64_t c = 0; c < C; ++c) {
        T acc = h_res[j] * g[c];
        for (std::int64_t i = 1; i < n; ++i) acc += h_res[i * n + j] * g[i * C + c];
        acc += h_pre[j] * du[c];
        if constexpr (kXTerm) acc += coef * x[j * C + c];
        dx[j * C + c] = kAccumulate ? dx[j * C + c] + acc : acc;
      }
    }
  }
}

}  // namespace mhc::ops::cpu::stream_token
