// Deterministic CPU parallel loop with run-time AVX2 dispatch, shared by the vectorised connection ops.
#pragma once

#include <algorithm>
#include <cstdint>

namespace mhc::ops::cpu {

template <typename Body>
__attribute__((target("avx2"))) void index_range_avx2(const Body& body, std::int64_t i0, std::int64_t i1) {
  for (std::int64_t i = i0; i < i1; ++i) body(i);
}
template <typename Body>
void index_range_generic(const Body& body, std::int64_t i0, std::int64_t i1) {
  for (std::int64_t i = i0; i < i1; ++i) body(i);
}

// body(i) for every i in [0, count), in blocks of `block` indices split statically over OpenMP threads. Each index
// is computed by one thread, so results do not depend on the thread count. body must be always_inline so that it
// is compiled into both the AVX2 and the baseline variant (neither uses FMA: both give the same bits).
template <typename Body>
void parallel_for_blocks(std::int64_t count, std::int64_t block, const Body& body) {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  const std::int64_t blocks = (count + block - 1) / block;
#pragma omp parallel for schedule(static)
  for (std::int64_t b = 0; b < blocks; ++b) {
    const std::int64_t i0 = b * block, i1 = std::min(count, i0 + block);
    if (avx2)
      index_range_avx2(body, i0, i1);
    else
      index_range_generic(body, i0, i1);
  }
}

}  // namespace mhc::ops::cpu
