// CPU mHC coefficient forward and split backward (contracts in ops/mhc_coeffs.hpp), on raw row-major arrays.
#pragma once

#include <cstdint>

namespace mhc::ops::cpu {

// Extents: N tokens, n streams, C hidden size; K = n*n + 2n.
struct MhcDims {
  std::int64_t N, n, C;
  std::int64_t K() const { return n * n + 2 * n; }
};

template <typename T>
void mhc_coeffs_forward(T* h_pre, T* h_post, T* res_logits, T* proj, T* rstd, const T* x, const T* phi, const T* alpha,
                        const T* bias, MhcDims d, T eps);

template <typename T>
void mhc_coeffs_backward_input(T* dx, T* x_coef, T* dtilde, const T* dh_pre, const T* dh_post, const T* dres_logits,
                               const T* phi, const T* alpha, const T* h_pre, const T* h_post, const T* proj,
                               const T* rstd, MhcDims d);

template <typename T>
void mhc_coeffs_backward_weight(T* dphi, T* dalpha, T* dbias, const T* dtilde, const T* x, const T* proj, const T* rstd,
                                const T* alpha, MhcDims d);

}  // namespace mhc::ops::cpu
