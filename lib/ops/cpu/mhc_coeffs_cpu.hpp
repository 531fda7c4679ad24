// CPU mHC coefficient forward and split backward (contracts in ops/mhc_coeffs.hpp), on raw row-major arrays.
#pragma once

#include <cstdint>
#include <vector>

#include "ops/cpu/rms_projection_cpu.hpp"  // sigmoid

namespace mhc::ops::cpu {

// Extents: N tokens, n streams, C hidden size; K = n*n + 2n.
struct MhcDims {
  std::int64_t N, n, C;
  std::int64_t K() const { return n * n + 2 * n; }
};

// Which alpha scales coefficient column k: 0 (pre) for k < n, 1 (post) for k < 2n, 2 (res) after.
inline int mhc_alpha_block(std::int64_t k, std::int64_t n) { return k < n ? 0 : (k < 2 * n ? 1 : 2); }

// alpha (3) expanded to one scale per coefficient column (K): the column scales of the shared RMS projection.
template <typename T>
std::vector<T> mhc_column_scales(const T* alpha, MhcDims d) {
  std::vector<T> scale(static_cast<std::size_t>(d.K()));
  for (std::int64_t k = 0; k < d.K(); ++k) scale[static_cast<std::size_t>(k)] = alpha[mhc_alpha_block(k, d.n)];
  return scale;
}

// One token's gates from its projection row p (K) and rstd (z_k = p_k * rstd): h_pre (n), h_post (n) and the
// H_res logits (n * n).
template <typename T>
inline void mhc_gates_forward_token(T* h_pre, T* h_post, T* res_logits, const T* p, T rstd, const T* alpha,
                                    const T* bias, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    h_pre[i] = sigmoid(alpha[0] * (p[i] * rstd) + bias[i]);
    h_post[i] = T(2) * sigmoid(alpha[1] * (p[n + i] * rstd) + bias[n + i]);
  }
  for (std::int64_t k = 2 * n; k < n * n + 2 * n; ++k) res_logits[k - 2 * n] = alpha[2] * (p[k] * rstd) + bias[k];
}

// One token's gradient w.r.t. the pre-activations, dtilde (K), through the gates: sigmoid' = h (1 - h); for
// h_post = 2 sigmoid, dh_post/dtilde = h_post (1 - h_post / 2); the H_res logits pass straight through.
template <typename T>
inline void mhc_gates_backward_token(T* dtilde, const T* dh_pre, const T* dh_post, const T* dres_logits,
                                     const T* h_pre, const T* h_post, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    const T hp = h_pre[i], hq = h_post[i];
    dtilde[i] = dh_pre[i] * hp * (T(1) - hp);
    dtilde[n + i] = dh_post[i] * hq * (T(1) - hq / T(2));
  }
  for (std::int64_t k = 0; k < n * n; ++k) dtilde[2 * n + k] = dres_logits[k];
}

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
