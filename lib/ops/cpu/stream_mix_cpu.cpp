// CPU stream mixing: every per-token product is a small GEMM (ops::cpu::gemm) on the token's (n, C) stream block.
#include "ops/cpu/stream_mix_cpu.hpp"

#include "ops/cpu/matmul_cpu.hpp"

namespace mhc::ops::cpu {

template <typename T>
void stream_pre_apply_forward(T* u, const T* x, const T* h_pre, std::int64_t N, std::int64_t n, std::int64_t C) {
  for (std::int64_t t = 0; t < N; ++t) {
    // u_t (1, C) = h_pre_t (1, n) x_t (n, C)
    gemm<T>(false, false, 1, C, n, T(1), h_pre + t * n, n, x + t * n * C, C, T(0), u + t * C, C);
  }
}

template <typename T>
void stream_pre_apply_backward(T* dx, T* dh_pre, const T* du, const T* x, const T* h_pre, std::int64_t N,
                               std::int64_t n, std::int64_t C) {
  for (std::int64_t t = 0; t < N; ++t) {
    // dx_t (n, C) += h_pre_t^T (n, 1) du_t (1, C)
    gemm<T>(false, false, n, C, 1, T(1), h_pre + t * n, 1, du + t * C, C, T(1), dx + t * n * C, C);
    // dh_pre_t (n, 1) = x_t (n, C) du_t^T (C, 1)
    gemm<T>(false, true, n, 1, C, T(1), x + t * n * C, C, du + t * C, C, T(0), dh_pre + t * n, 1);
  }
}

template <typename T>
void stream_post_res_forward(T* x_out, const T* x, const T* y, const T* h_res, const T* h_post, std::int64_t N,
                             std::int64_t n, std::int64_t C) {
  for (std::int64_t t = 0; t < N; ++t) {
    T* out = x_out + t * n * C;
    // out (n, C) = h_res_t (n, n) x_t (n, C) + h_post_t^T (n, 1) y_t (1, C)
    gemm<T>(false, false, n, C, n, T(1), h_res + t * n * n, n, x + t * n * C, C, T(0), out, C);
    gemm<T>(false, false, n, C, 1, T(1), h_post + t * n, 1, y + t * C, C, T(1), out, C);
  }
}

template <typename T>
void stream_post_res_backward(T* dx, T* dy, T* dh_res, T* dh_post, const T* dx_out, const T* x, const T* y,
                              const T* h_res, const T* h_post, std::int64_t N, std::int64_t n, std::int64_t C) {
  for (std::int64_t t = 0; t < N; ++t) {
    const T* g = dx_out + t * n * C;
    const T* x_t = x + t * n * C;
    // dx_t (n, C) += h_res_t^T (n, n) g (n, C)
    gemm<T>(true, false, n, C, n, T(1), h_res + t * n * n, n, g, C, T(1), dx + t * n * C, C);
    // dy_t (1, C) = h_post_t (1, n) g (n, C)
    gemm<T>(false, false, 1, C, n, T(1), h_post + t * n, n, g, C, T(0), dy + t * C, C);
    // dh_res_t (n, n) = g (n, C) x_t^T (C, n)
    gemm<T>(false, true, n, n, C, T(1), g, C, x_t, C, T(0), dh_res + t * n * n, n);
    // dh_post_t (n, 1) = g (n, C) y_t^T (C, 1)
    gemm<T>(false, true, n, 1, C, T(1), g, C, y + t * C, C, T(0), dh_post + t * n, 1);
  }
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
