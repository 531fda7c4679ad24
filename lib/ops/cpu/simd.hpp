// Lane vectors of the CPU connection kernels: 16 values per vector (one AVX-512 register for f32; two AVX2 or four
// SSE registers on smaller ISAs), loads, stores, and the fixed summation tree of lane-split dot products. The same
// plain multiply-then-add code is compiled per ISA (ops/cpu/parallel_for.hpp), so every ISA gives the same bits.
#pragma once

#include <cstdint>
#include <cstring>

namespace mhc::ops::cpu::simd {

#define MHC_INLINE __attribute__((always_inline)) inline
// Every function taking or returning the vector types below is inlined, so no vector crosses a call boundary.
#pragma GCC diagnostic ignored "-Wpsabi"

constexpr int kLanes = 16;
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

// The sum of the kLanes partial sums a[l] in a fixed pairwise tree (halves added first, as a vector reduction does).
template <typename T, typename L>
MHC_INLINE T lane_sum(const L& a) {
  T s[kLanes];
  for (int l = 0; l < kLanes; ++l) s[l] = a[l];
  for (int half = kLanes / 2; half >= 1; half /= 2)
    for (int l = 0; l < half; ++l) s[l] = s[l] + s[l + half];
  return s[0];
}

// <a, b> over C elements: partial sum l takes the elements c = l (mod kLanes) in ascending c, then lane_sum, then the
// tail (c beyond the last whole group) in ascending c.
template <typename T>
MHC_INLINE T lane_dot(const T* a, const T* b, std::int64_t C) {
  Lanes<T> acc = {};
  std::int64_t c = 0;
  for (; c + kLanes <= C; c += kLanes) acc += load<Lanes<T>>(a + c) * load<Lanes<T>>(b + c);
  T tail = 0;
  for (; c < C; ++c) tail += a[c] * b[c];
  return lane_sum<T>(acc) + tail;
}

// fn(U{}, c) over the columns [0, C): U = Lanes<T> for groups of kLanes columns starting at c, then U = T per column.
template <typename T, typename Fn>
MHC_INLINE void for_column_groups(std::int64_t C, Fn&& fn) {
  std::int64_t c = 0;
  for (; c + kLanes <= C; c += kLanes) fn(Lanes<T>{}, c);
  for (; c < C; ++c) fn(T{}, c);
}

}  // namespace mhc::ops::cpu::simd
