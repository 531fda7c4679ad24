// CPU dynamic Hyper-Connections coefficient forward and split backward (contracts in ops/hc_coeffs.hpp).
#pragma once

#include <cstdint>

namespace mhc::ops::cpu {

// Extents: N tokens, n streams, C hidden size; each stream projects onto n + 2 columns.
struct HcDims {
  std::int64_t N, n, C;
  std::int64_t P() const { return n + 2; }
};

template <typename T>
void hc_coeffs_forward(T* h_pre, T* h_post, T* h_res, T* proj, const T* xb, const T* w, const T* s, const T* am,
                       const T* ar, const T* bb, HcDims d);

template <typename T>
void hc_coeffs_backward_input(T* dxb, T* dproj, const T* dh_pre, const T* dh_post, const T* dh_res, const T* proj,
                              const T* w, const T* s, HcDims d);

template <typename T>
void hc_coeffs_backward_weight(T* dw, T* ds, T* dam, T* dar, T* dbb, const T* dproj, const T* dh_pre, const T* dh_post,
                               const T* dh_res, const T* xb, const T* proj, HcDims d);

}  // namespace mhc::ops::cpu
