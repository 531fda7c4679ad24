// CPU Sinkhorn-Knopp: the fp reference for the CUDA kernel (same summation order: i ascending, then + eps);
// tokens split over OpenMP threads, each computed by one thread, so results do not depend on the thread count.
// For n = 1, 2, 4, 8 groups of kLanes tokens run side by side in vector lanes (n a compile-time constant), with the
// same operations per token as the scalar path; the group loops are compiled per ISA (ops/cpu/parallel_for.hpp).
#include "ops/cpu/sinkhorn_cpu.hpp"

#include "ops/cpu/parallel_for.hpp"
#include "ops/cpu/sinkhorn_steps.hpp"
#include "ops/cpu/stream_token.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace mhc::ops::cpu {

namespace {

using namespace sinkhorn_steps;

// body(g) for every group g of kLanes tokens of N, split over OpenMP threads; body must be always_inline.
template <typename Body>
void for_each_group(std::int64_t N, const Body& body) {
  parallel_for_blocks((N + kLanes - 1) / kLanes, 4, body);
}

}  // namespace

template <typename T>
void sinkhorn_forward(T* h, const T* logits, std::int64_t N, int n, int iters, T eps) {
  const std::int64_t nn = static_cast<std::int64_t>(n) * n;
  stream_token::with_stream_count(n, [&](auto kn) {
    constexpr int kN = decltype(kn)::value;
    if constexpr (kN > 0) {
      for_each_group(N, [&](std::int64_t g) __attribute__((always_inline)) {
        const std::int64_t t0 = g * kLanes;
        const int count = static_cast<int>(std::min<std::int64_t>(kLanes, N - t0));
        sinkhorn_forward_group<T, kN>(h + t0 * nn, logits + t0 * nn, count, iters, eps);
      });
    } else {
#pragma omp parallel for schedule(static)
      for (std::int64_t t = 0; t < N; ++t) sinkhorn_forward_token(h + t * nn, logits + t * nn, n, iters, eps);
    }
  });
}

template <typename T>
void sinkhorn_backward(T* dlogits, const T* dh, const T* logits, std::int64_t N, int n, int iters, T eps) {
  const int nn = n * n;
  stream_token::with_stream_count(n, [&](auto kn) {
    constexpr int kN = decltype(kn)::value;
    if constexpr (kN > 0) {
#pragma omp parallel
      {
        GroupIterates<T> its(nn, iters);  // one per thread, as in the per-token path below
        Lanes<T>* it_data = its.data();
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
