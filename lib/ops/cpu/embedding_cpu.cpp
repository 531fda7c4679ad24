// CPU token embedding loops.
#include "ops/cpu/embedding_cpu.hpp"

namespace mhc::ops::cpu {

template <typename T>
void embedding_forward(T* out, const std::int32_t* ids, const T* table, std::int64_t N, std::int64_t C) {
  for (std::int64_t n = 0; n < N; ++n) {
    const T* row = table + static_cast<std::int64_t>(ids[n]) * C;
    T* o = out + n * C;
    for (std::int64_t c = 0; c < C; ++c) o[c] = row[c];
  }
}

template <typename T>
void embedding_backward_weight(T* dtable, const T* dout, const std::int32_t* ids, std::int64_t N, std::int64_t C) {
  for (std::int64_t n = 0; n < N; ++n) {
    T* row = dtable + static_cast<std::int64_t>(ids[n]) * C;
    const T* g = dout + n * C;
    for (std::int64_t c = 0; c < C; ++c) row[c] += g[c];
  }
}

template void embedding_forward<float>(float*, const std::int32_t*, const float*, std::int64_t, std::int64_t);
template void embedding_forward<double>(double*, const std::int32_t*, const double*, std::int64_t, std::int64_t);
template void embedding_backward_weight<float>(float*, const float*, const std::int32_t*, std::int64_t, std::int64_t);
template void embedding_backward_weight<double>(double*, const double*, const std::int32_t*, std::int64_t,
                                                std::int64_t);

}  // namespace mhc::ops::cpu
