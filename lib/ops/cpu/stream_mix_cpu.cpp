// CPU stream mixing: one pass over each token's (n, C) stream block, the n x n coefficients held in registers.
// Tokens are independent and each is computed by one thread in a fixed order, so results do not depend on the
// OpenMP thread count. n = 1, 2, 4, 8 are compile-time constants (kN); other n take the runtime path (kN = 0),
// which performs the same operations in the same order per element. The token loops are compiled per ISA
// (ops/cpu/parallel_for.hpp) with plain multiply and add, giving the same bits on every ISA.
#include "ops/cpu/stream_mix_cpu.hpp"

#include <type_traits>

#include "ops/cpu/parallel_for.hpp"
#include "ops/cpu/simd.hpp"
#include "ops/cpu/stream_token.hpp"

namespace mhc::ops::cpu {

namespace {

using simd::for_column_groups;
using simd::load;
using simd::store;
using stream_token::mix_token_backward;
using stream_token::post_res_token_coeffs;
using stream_token::pre_apply_token_backward;
using stream_token::stream_weighted_sum;
using stream_token::with_stream_count;

// body(t) for every token t in [0, N), split over OpenMP threads in blocks of 16 tokens.
template <typename Body>
void for_each_token(std::int64_t N, const Body& body) {
  parallel_for_blocks(N, 16, body);
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

}  // namespace

template <typename T>
void stream_pre_apply_forward(T* u, const T* x, const T* h_pre, std::int64_t N, std::int64_t n, std::int64_t C) {
  with_stream_count(n, [&](auto kn) {
    constexpr int kN = decltype(kn)::value;
    for_each_token(N, [&](std::int64_t t) __attribute__((always_inline)) {
      stream_weighted_sum<T, kN>(u + t * C, x + t * n * C, h_pre + t * n, n, C);
    });
  });
}

template <typename T>
void stream_pre_apply_backward(T* dh_pre, const T* du, const T* x, std::int64_t N, std::int64_t n, std::int64_t C) {
  with_stream_count(n, [&](auto kn) {
    constexpr int kN = decltype(kn)::value;
    for_each_token(N, [&](std::int64_t t) __attribute__((always_inline)) {
      pre_apply_token_backward<T, kN>(dh_pre + t * n, x + t * n * C, du + t * C, n, C);
    });
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
void stream_post_res_backward(T* dy, T* dh_res, T* dh_post, const T* dx_out, const T* x, const T* y, const T* h_post,
                              std::int64_t N, std::int64_t n, std::int64_t C) {
  with_stream_count(n, [&](auto kn) {
    constexpr int kN = decltype(kn)::value;
    for_each_token(N, [&](std::int64_t t) __attribute__((always_inline)) {
      const T* g = dx_out + t * n * C;
      const T* x_t = x + t * n * C;
      if (dy != nullptr) stream_weighted_sum<T, kN>(dy + t * C, g, h_post + t * n, n, C);
      // The token's block is still in cache for the coefficient gradients.
      if (dh_res != nullptr) post_res_token_coeffs<T, kN>(dh_res + t * n * n, dh_post + t * n, g, x_t, y + t * C, n, C);
    });
  });
}

template <typename T>
void stream_mix_backward(T* dx, const T* dx_out, const T* du, const T* h_res, const T* h_pre, const T* x,
                         const T* x_coef, std::int64_t N, std::int64_t n, std::int64_t C) {
  with_stream_count(n, [&](auto kn) {
    constexpr int kN = decltype(kn)::value;
    const auto run = [&](auto x_term) {
      constexpr bool kXTerm = decltype(x_term)::value;
      for_each_token(N, [&](std::int64_t t) __attribute__((always_inline)) {
        const std::int64_t s = t * n * C;
        mix_token_backward<T, kN, kXTerm>(dx + s, dx_out + s, du + t * C, h_res + t * n * n, h_pre + t * n, x + s,
                                          kXTerm ? x_coef[t] : T(0), n, C);
      });
    };
    if (x_coef != nullptr)
      run(std::true_type{});
    else
      run(std::false_type{});
  });
}

#define MHC_INSTANTIATE_STREAM_MIX(T)                                                                                 \
  template void stream_pre_apply_forward<T>(T*, const T*, const T*, std::int64_t, std::int64_t, std::int64_t);       \
  template void stream_pre_apply_backward<T>(T*, const T*, const T*, std::int64_t, std::int64_t, std::int64_t);      \
  template void stream_post_res_forward<T>(T*, const T*, const T*, const T*, const T*, std::int64_t, std::int64_t,   \
                                           std::int64_t);                                                            \
  template void stream_post_res_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, std::int64_t,        \
                                            std::int64_t, std::int64_t);                                             \
  template void stream_mix_backward<T>(T*, const T*, const T*, const T*, const T*, const T*, const T*, std::int64_t, \
                                       std::int64_t, std::int64_t);
MHC_INSTANTIATE_STREAM_MIX(float)
MHC_INSTANTIATE_STREAM_MIX(double)
#undef MHC_INSTANTIATE_STREAM_MIX

}  // namespace mhc::ops::cpu
