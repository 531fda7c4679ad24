// CPU stream mixing: one pass over each token's (n, C) stream block, the n x n coefficients held in registers.
// Tokens are independent and each is computed by one thread in a fixed order, so results do not depend on the
// OpenMP thread count. n = 1, 2, 4, 8 are compile-time constants (kN); other n take the runtime path (kN = 0),
// which performs the same operations in the same order per element. The token loops are compiled twice, for AVX2
// and for the baseline ISA (plain multiply and add, no FMA), giving the same bits either way.
#include "ops/cpu/stream_mix_cpu.hpp"

#include "ops/cpu/parallel_for.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace mhc::ops::cpu {

namespace {

// Calls fn(std::integral_constant<int, kN>) with kN = n for n in {1, 2, 4, 8}, else kN = 0 (runtime n).
template <typename Fn>
void with_stream_count(std::int64_t n, Fn&& fn) {
  switch (n) {
    case 1: fn(std::integral_constant<int, 1>{}); break;
    case 2: fn(std::integral_constant<int, 2>{}); break;
    case 4: fn(std::integral_constant<int, 4>{}); break;
    case 8: fn(std::integral_constant<int, 8>{}); break;
    default: fn(std::integral_constant<int, 0>{}); break;
  }
}

#define MHC_INLINE __attribute__((always_inline)) inline
// Every function taking or returning the vector types below is inlined, so no vector crosses a call boundary.
#pragma GCC diagnostic ignored "-Wpsabi"

// body(t) for every token t in [0, N), split over OpenMP threads in blocks of 16 tokens.
template <typename Body>
void for_each_token(std::int64_t N, const Body& body) {
  parallel_for_blocks(N, 16, body);
}

// <a, b> over C elements in kLanes fixed partial sums (vectorisable without reassociation), then a fixed tree.
constexpr int kLanes = 8;
template <typename T>
MHC_INLINE T lane_dot(const T* a, const T* b, std::int64_t C) {
  T lane[kLanes] = {};
  std::int64_t c = 0;
  for (; c + kLanes <= C; c += kLanes)
    for (int l = 0; l < kLanes; ++l) lane[l] += a[c + l] * b[c + l];
  T tail = 0;
  for (; c < C; ++c) tail += a[c] * b[c];
  return (((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]))) + tail;
}

// kLanes columns as one vector (plain elementwise arithmetic, so the same bits as the scalar loop).
template <typename T>
struct LaneVector {
  typedef T type __attribute__((vector_size(kLanes * sizeof(T))));
};
template <typename T>
using Lanes = typename LaneVector<T>::type;

template <typename U, typename T>
MHC_INLINE U load(const T* p) {
  U v;
  std::memcpy(&v, p, sizeof(U));
  return v;
}
template <typename U, typename T>
MHC_INLINE void store(T* p, const U& v) {
  std::memcpy(p, &v, sizeof(U));
}

// fn(U{}, c) over the columns [0, C): U = Lanes<T> for groups of kLanes columns starting at c, then U = T per column.
template <typename T, typename Fn>
MHC_INLINE void for_column_groups(std::int64_t C, Fn&& fn) {
  std::int64_t c = 0;
  for (; c + kLanes <= C; c += kLanes) fn(Lanes<T>{}, c);
  for (; c < C; ++c) fn(T{}, c);
}

template <typename T, int kN>
MHC_INLINE void pre_apply_token(T* u, const T* x, const T* h, std::int64_t n_rt, std::int64_t C) {
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

template <typename T, int kN>
MHC_INLINE void post_res_token(T* out, const T* x, const T* y, const T* h_res, const T* h_post, std::int64_t n_rt,
                               std::int64_t C) {
  if constexpr (kN > 0) {
    T hr[kN * kN], hp[kN];
    for (int k = 0; k < kN * kN; ++k) hr[k] = h_res[k];
    for (int i = 0; i < kN; ++i) hp[i] = h_post[i];
    for_column_groups<T>(C, [&](auto tag, std::int64_t c) __attribute__((always_inline)) {
      using U = decltype(tag);
      U xv[kN];
      for (int j = 0; j < kN; ++j) xv[j] = load<U>(x + j * C + c);
      const U yc = load<U>(y + c);
      for (int i = 0; i < kN; ++i) {
        U acc = hr[i * kN] * xv[0];
        for (int j = 1; j < kN; ++j) acc += hr[i * kN + j] * xv[j];
        store(out + i * C + c, acc + hp[i] * yc);
      }
    });
  } else {
    const std::int64_t n = n_rt;
    for (std::int64_t i = 0; i < n; ++i) {
      T* o = out + i * C;
      for (std::int64_t c = 0; c < C; ++c) o[c] = h_res[i * n] * x[c];
      for (std::int64_t j = 1; j < n; ++j)
        for (std::int64_t c = 0; c < C; ++c) o[c] += h_res[i * n + j] * x[j * C + c];
      for (std::int64_t c = 0; c < C; ++c) o[c] += h_post[i] * y[c];
    }
  }
}

// dx[j] += sum_i h_res[i, j] g[i] and dy = sum_i h_post[i] g[i] for one token (sums in ascending i).
template <typename T, int kN>
MHC_INLINE void post_res_token_backward_streams(T* dx, T* dy, const T* g, const T* h_res, const T* h_post,
                                                std::int64_t n_rt, std::int64_t C) {
  if constexpr (kN > 0) {
    T hr[kN * kN], hp[kN];
    for (int k = 0; k < kN * kN; ++k) hr[k] = h_res[k];
    for (int i = 0; i < kN; ++i) hp[i] = h_post[i];
    for_column_groups<T>(C, [&](auto tag, std::int64_t c) __attribute__((always_inline)) {
      using U = decltype(tag);
      U gv[kN];
      for (int i = 0; i < kN; ++i) gv[i] = load<U>(g + i * C + c);
      for (int j = 0; j < kN; ++j) {
        U acc = hr[j] * gv[0];
        for (int i = 1; i < kN; ++i) acc += hr[i * kN + j] * gv[i];
        store(dx + j * C + c, load<U>(dx + j * C + c) + acc);
      }
      U acc = hp[0] * gv[0];
      for (int i = 1; i < kN; ++i) acc += hp[i] * gv[i];
      store(dy + c, acc);
    });
  } else {
    const std::int64_t n = n_rt;
    for (std::int64_t c = 0; c < C; ++c) {
      for (std::int64_t j = 0; j < n; ++j) {
        T acc = h_res[j] * g[c];
        for (std::int64_t i = 1; i < n; ++i) acc += h_res[i * n + j] * g[i * C + c];
        dx[j * C + c] += acc;
      }
      T acc = h_post[0] * g[c];
      for (std::int64_t i = 1; i < n; ++i) acc += h_post[i] * g[i * C + c];
      dy[c] = acc;
    }
  }
}

// dh_res[i, j] = <g[i], x[j]> and dh_post[i] = <g[i], y> for one token, each summed exactly as lane_dot sums (kLanes
// partial sums, the same tree, then the tail), one row i per pass so that the sums stay in registers.
template <typename T, int kN>
MHC_INLINE void post_res_token_backward_coeffs(T* dh_res, T* dh_post, const T* g, const T* x, const T* y,
                                               std::int64_t C) {
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
      const L& a = acc[j];
      const T sum = (((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]))) + tail;
      if (j < kN)
        dh_res[i * kN + j] = sum;
      else
        dh_post[i] = sum;
    }
  }
}

}  // namespace

template <typename T>
void stream_pre_apply_forward(T* u, const T* x, const T* h_pre, std::int64_t N, std::int64_t n, std::int64_t C) {
  with_stream_count(n, [&](auto kn) {
    constexpr int kN = decltype(kn)::value;
    for_each_token(N, [&](std::int64_t t) __attribute__((always_inline)) {
      pre_apply_token<T, kN>(u + t * C, x + t * n * C, h_pre + t * n, n, C);
    });
  });
}

template <typename T>
void stream_pre_apply_backward(T* dx, T* dh_pre, const T* du, const T* x, const T* h_pre, std::int64_t N,
                               std::int64_t n, std::int64_t C) {
  for_each_token(N, [&](std::int64_t t) __attribute__((always_inline)) {
    const T* g = du + t * C;
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t row = (t * n + i) * C;
      const T h = h_pre[t * n + i];
      T* dxi = dx + row;
      for (std::int64_t c = 0; c < C; ++c) dxi[c] += h * g[c];
      dh_pre[t * n + i] = lane_dot(x + row, g, C);
    }
  });
}

template <typename T>
void stream_post_res_forward(T* x_out, const T* x, const T* y, const T* h_res, const T* h_post, std::int64_t N,
                             std::int64_t n, std::int64_t C) {
  with_stream_count(n, [&](auto kn) {
    constexpr int kN = decltype(kn)::value;
    for_each_token(N, [&](std::int64_t t) __attribute__((always_inline)) {
      post_res_token<T, kN>(x_out + t * n * C, x + t * n * C, y + t * C, h_res + t * n * n, h_post + t * n, n, C);
    });
  });
}

template <typename T>
void stream_post_res_backward(T* dx, T* dy, T* dh_res, T* dh_post, const T* dx_out, const T* x, const T* y,
                              const T* h_res, const T* h_post, std::int64_t N, std::int64_t n, std::int64_t C) {
  with_stream_count(n, [&](auto kn) {
    constexpr int kN = decltype(kn)::value;
    for_each_token(N, [&](std::int64_t t) __attribute__((always_inline)) {
      const T* g = dx_out + t * n * C;
      const T* x_t = x + t * n * C;
      post_res_token_backward_streams<T, kN>(dx + t * n * C, dy + t * C, g, h_res + t * n * n, h_post + t * n, n, C);
      // The token's block is still in cache for the coefficient gradients.
      if constexpr (kN > 0) {
        post_res_token_backward_coeffs<T, kN>(dh_res + t * n * n, dh_post + t * n, g, x_t, y + t * C, C);
      } else {
        for (std::int64_t i = 0; i < n; ++i) {
          for (std::int64_t j = 0; j < n; ++j) dh_res[(t * n + i) * n + j] = lane_dot(g + i * C, x_t + j * C, C);
          dh_post[t * n + i] = lane_dot(g + i * C, y + t * C, C);
        }
      }
    });
  });
}

#define MHC_INSTANTIATE_STREAM_MIX(T)                                                                                 \
  template void stream_pre_apply_forward<T>(T*, const T*, const T*, std::int64_t, std::int64_t, std::int64_t);       \
  template void stream_pre_apply_backward<T>(T*, T*, const T*, const T*, const T*, std::int64_t, std::int64_t,       \
                                             std::int64_t);                                                          \
  template void stream_post_res_forward<T>(T*, const T*, const T*, const T*, const T*, std::int64_t, std::int64_t,   \
                                           std::int64_t);                                                            \
  template void stream_post_res_backward<T>(T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*,        \
                                            std::int64_t, std::int64_t, std::int64_t);
MHC_INSTANTIATE_STREAM_MIX(float)
MHC_INSTANTIATE_STREAM_MIX(double)
#undef MHC_INSTANTIATE_STREAM_MIX

}  // namespace mhc::ops::cpu
