// Deterministic CPU parallel loop with run-time ISA dispatch (AVX-512, AVX2 or the baseline), shared by the
// vectorised connection ops.
#pragma once

#include <algorithm>
#include <cstdint>

namespace mhc::ops::cpu {

// The vector ISAs the kernels are compiled for, narrowest first.
enum class VectorIsa { baseline, avx2, avx512 };

// The widest of them this CPU supports.
inline VectorIsa widest_vector_isa() {
  static const VectorIsa isa = __builtin_cpu_supports("avx512f") ? VectorIsa::avx512
                               : __builtin_cpu_supports("avx2")  ? VectorIsa::avx2
                                                                 : VectorIsa::baseline;
  return isa;
}

// The one the loops dispatch to: the widest, unless a test narrows it (ScopedVectorIsa) to compare the variants.
inline VectorIsa& dispatch_isa() {
  static VectorIsa isa = widest_vector_isa();
  return isa;
}

// Dispatches to min(isa, widest) while it lives (tests only; not thread-safe against running kernels).
class ScopedVectorIsa {
 public:
  explicit ScopedVectorIsa(VectorIsa isa) : saved_(dispatch_isa()) {
    dispatch_isa() = static_cast<int>(isa) < static_cast<int>(widest_vector_isa()) ? isa : widest_vector_isa();
  }
  ~ScopedVectorIsa() { dispatch_isa() = saved_; }
  ScopedVectorIsa(const ScopedVectorIsa&) = delete;
  ScopedVectorIsa& operator=(const ScopedVectorIsa&) = delete;

 private:
  VectorIsa saved_;
};

template <typename Body>
__attribute__((target("avx512f"))) void index_range_avx512(const Body& body, std::int64_t i0, std::int64_t i1) {
  for (std::int64_t i = i0; i < i1; ++i) body(i);
}
template <typename Body>
__attribute__((target("avx2"))) void index_range_avx2(const Body& body, std::int64_t i0, std::int64_t i1) {
  for (std::int64_t i = i0; i < i1; ++i) body(i);
}
template <typename Body>
void index_range_generic(const Body& body, std::int64_t i0, std::int64_t i1) {
  for (std::int64_t i = i0; i < i1; ++i) body(i);
}

// body(i) for i in [i0, i1) in the variant compiled for this CPU's ISA. body must be always_inline so that it is
// compiled into every variant; none uses FMA (neither the baseline, nor target("avx2"), nor target("avx512f") has
// it), so all give the same bits.
template <typename Body>
void index_range(const Body& body, std::int64_t i0, std::int64_t i1) {
  switch (dispatch_isa()) {
    case VectorIsa::avx512: index_range_avx512(body, i0, i1); return;
    case VectorIsa::avx2: index_range_avx2(body, i0, i1); return;
    case VectorIsa::baseline: index_range_generic(body, i0, i1); return;
  }
}

// body(i) for every i in [0, count), in blocks of `block` indices split statically over OpenMP threads. Each index
// is computed by one thread, so results do not depend on the thread count.
template <typename Body>
void parallel_for_blocks(std::int64_t count, std::int64_t block, const Body& body) {
  const std::int64_t blocks = (count + block - 1) / block;
#pragma omp parallel for schedule(static)
  for (std::int64_t b = 0; b < blocks; ++b) index_range(body, b * block, std::min(count, (b + 1) * block));
}

}  // namespace mhc::ops::cpu
