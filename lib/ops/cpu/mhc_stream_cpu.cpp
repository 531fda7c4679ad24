// CPU fused mHC connection passes. Forward: the projection GEMM, then each group of kLanes tokens by one thread:
// rstd, the gates, the group's Sinkhorn in vector lanes and u = sum_i h_pre[i] x[i] while the group's x is in cache
// (the operations of rms_projection_forward, mhc_coeffs_forward, sinkhorn_forward and stream_pre_apply_forward, in
// their order: the same bits). Backward: each group of kLanes tokens is done by one thread, start to end, while its
// (n, C) blocks are in cache: the dot products of the coefficient gradients (as stream_post_res_backward and
// stream_pre_apply_backward), the group's Sinkhorn backward in vector lanes (as sinkhorn_backward), the gates
// (as mhc_coeffs_backward_input), then dx = H_res^T dx_out + h_pre du + x_coef x (as stream_mix_backward, written
// instead of added). One GEMM then adds dproj phi^T to dx. Every step performs the per-element operations of the
// separate ops in their order, so results do not depend on the thread count and match the separate ops up to the
// order of the last addition to dx. Compiled per ISA (ops/cpu/parallel_for.hpp).
#include "ops/cpu/mhc_stream_cpu.hpp"

#include <algorithm>
#include <vector>

#include "ops/cpu/matmul_cpu.hpp"
#include "ops/cpu/parallel_for.hpp"
#include "ops/cpu/rms_projection_cpu.hpp"
#include "ops/cpu/sinkhorn_steps.hpp"
#include "ops/cpu/stream_token.hpp"

namespace mhc::ops::cpu {

namespace {

using sinkhorn_steps::kLanes;
using sinkhorn_steps::Lanes;

// The forward of the count tokens from t0 (one group), after the projection GEMM.
template <typename T, int kN>
MHC_INLINE void forward_group(const MhcStreamForwardArrays<T>& a, std::int64_t t0, int count, MhcDims d, int iters,
                              T rms_eps, T sinkhorn_eps) {
  const std::int64_t n = d.n, C = d.C, K = d.K(), nn = n * n, s = n * C;
  for (std::int64_t t = t0; t < t0 + count; ++t) {
    a.rstd[t] = rms_projection_rstd_row(a.x + t * s, s, rms_eps);
    mhc_gates_forward_token(a.h_pre + t * n, a.h_post + t * n, a.res_logits + t * nn, a.proj + t * K, a.rstd[t],
                            a.alpha, a.bias, n);
  }
  if constexpr (kN > 0) {
    sinkhorn_steps::sinkhorn_forward_group<T, kN>(a.h_res + t0 * nn, a.res_logits + t0 * nn, count, iters,
                                                   sinkhorn_eps);
  } else {
    for (std::int64_t t = t0; t < t0 + count; ++t)
      sinkhorn_steps::sinkhorn_forward_token(a.h_res + t * nn, a.res_logits + t * nn, static_cast<int>(n), iters,
                                             sinkhorn_eps);
  }
  for (std::int64_t t = t0; t < t0 + count; ++t)
    stream_token::stream_weighted_sum<T, kN>(a.u + t * C, a.x + t * s, a.h_pre + t * n, n, C);
}

// The backward of the count tokens from t0 (one group); dproj (N, K) receives the projection gradient rows, its is
// the thread's Sinkhorn scratch.
template <typename T, int kN>
MHC_INLINE void backward_group(const MhcStreamBackwardArrays<T>& a, T* dproj, Lanes<T>* its, const T* scale,
                               std::int64_t t0, int count, MhcDims d, int iters, T eps) {
  const std::int64_t n = d.n, C = d.C, K = d.K(), nn = n * n, s = n * C;
  for (std::int64_t t = t0; t < t0 + count; ++t) {
    stream_token::post_res_token_coeffs<T, kN>(a.dh_res + t * nn, a.dh_post + t * n, a.dx_out + t * s, a.x + t * s,
                                               a.y + t * C, n, C);
    stream_token::pre_apply_token_backward<T, kN>(a.dh_pre + t * n, a.x + t * s, a.du + t * C, n, C);
  }
  if constexpr (kN > 0) {
    sinkhorn_steps::sinkhorn_backward_group<T, kN>(a.dres_logits + t0 * nn, a.dh_res + t0 * nn,
                                                    a.res_logits + t0 * nn, its, count, iters, eps);
  } else {
    for (std::int64_t t = t0; t < t0 + count; ++t)
      sinkhorn_steps::sinkhorn_backward_token(a.dres_logits + t * nn, a.dh_res + t * nn, a.res_logits + t * nn,
                                              reinterpret_cast<T*>(its), static_cast<int>(n), iters, eps);
  }
  for (std::int64_t t = t0; t < t0 + count; ++t) {
    T* dt = a.dtilde + t * K;
    mhc_gates_backward_token(dt, a.dh_pre + t * n, a.dh_post + t * n, a.dres_logits + t * nn, a.h_pre + t * n,
                             a.h_post + t * n, n);
    rms_projection_gradient_row(dproj + t * K, dt, scale, a.rstd[t], K);
    const T coef = rms_projection_v_coefficient(dt, scale, a.proj + t * K, a.rstd[t], s, K);
    a.x_coef[t] = coef;
    stream_token::mix_token_backward<T, kN, /*kXTerm=*/true, /*kAccumulate=*/false>(
        a.dx + t * s, a.dx_out + t * s, a.du + t * C, a.h_res + t * nn, a.h_pre + t * n, a.x + t * s, coef, n, C);
  }
}

}  // namespace

template <typename T>
void mhc_stream_forward(const MhcStreamForwardArrays<T>& a, MhcDims d, int sinkhorn_iters, T rms_eps, T sinkhorn_eps) {
  const std::int64_t N = d.N, K = d.K(), D = d.n * d.C;
  gemm<T>(false, false, N, K, D, T(1), a.x, D, a.phi, K, T(0), a.proj, K);
  stream_token::with_stream_count(d.n, [&](auto kn) {
    constexpr int kN = decltype(kn)::value;
    parallel_for_blocks((N + kLanes - 1) / kLanes, 1, [&](std::int64_t g) __attribute__((always_inline)) {
      const std::int64_t t0 = g * kLanes;
      forward_group<T, kN>(a, t0, static_cast<int>(std::min<std::int64_t>(kLanes, N - t0)), d, sinkhorn_iters,
                           rms_eps, sinkhorn_eps);
    });
  });
}

template <typename T>
void mhc_stream_backward(const MhcStreamBackwardArrays<T>& a, MhcDims d, int sinkhorn_iters, T sinkhorn_eps) {
  const std::int64_t N = d.N, K = d.K(), D = d.n * d.C;
  const std::vector<T> scale = mhc_column_scales(a.alpha, d);
  std::vector<T> dproj(static_cast<std::size_t>(N * K));
  const std::int64_t groups = (N + kLanes - 1) / kLanes;
  stream_token::with_stream_count(d.n, [&](auto kn) {
    constexpr int kN = decltype(kn)::value;
#pragma omp parallel
    {
      // The group's Sinkhorn iterates, one buffer per thread (also large enough for the per-token path's).
      sinkhorn_steps::GroupIterates<T> its(static_cast<int>(d.n * d.n), sinkhorn_iters);
      Lanes<T>* it_data = its.data();
      const auto body = [&](std::int64_t g) __attribute__((always_inline)) {
        const std::int64_t t0 = g * kLanes;
        backward_group<T, kN>(a, dproj.data(), it_data, scale.data(), t0,
                              static_cast<int>(std::min<std::int64_t>(kLanes, N - t0)), d, sinkhorn_iters,
                              sinkhorn_eps);
      };
#pragma omp for schedule(static)
      for (std::int64_t g = 0; g < groups; ++g) index_range(body, g, g + 1);
    }
  });
  gemm<T>(false, true, N, D, K, T(1), dproj.data(), K, a.phi, K, T(1), a.dx, D);
}

template void mhc_stream_forward<float>(const MhcStreamForwardArrays<float>&, MhcDims, int, float, float);
template void mhc_stream_forward<double>(const MhcStreamForwardArrays<double>&, MhcDims, int, double, double);
template void mhc_stream_backward<float>(const MhcStreamBackwardArrays<float>&, MhcDims, int, float);
template void mhc_stream_backward<double>(const MhcStreamBackwardArrays<double>&, MhcDims, int, double);

}  // namespace mhc::ops::cpu
