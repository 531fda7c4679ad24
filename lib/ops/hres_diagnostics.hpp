// Stability diagnostics of the residual mixing matrices H_res (spec 3; paper section 3.1, Figs. 3 and 7), CPU only.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.hpp"

namespace mhc::ops {

// Mean and max over the probe tokens of one per-token quantity (a max propagates NaN).
struct TokenStats {
  double mean = 0;
  double max = 0;
};

// One residual layer l, from its per-token H = H_res_l(t).
struct LayerHresDiagnostics {
  TokenStats forward_gain;   // max_i sum_j |H[i, j]| (largest absolute row sum: amplification of the forward signal)
  TokenStats backward_gain;  // max_j sum_i |H[i, j]| (largest absolute column sum: amplification of the gradient)
  double identity_distance = 0;  // mean over tokens of ||H - I||_F (0 iff H_res = I: a near-0 value means no mixing)
};

// What a probe reports for the whole network (spec 3): per-layer gains, composite gains, distance from the identity.
struct HresDiagnostics {
  std::int64_t tokens = 0;                   // N probe tokens
  std::int64_t streams = 0;                  // n
  std::vector<LayerHresDiagnostics> layers;  // index l = residual layer l, in the order given
  // Gains of the composite P(t) = H_res_{L-1}(t) ... H_res_1(t) H_res_0(t) (layer 0 applied first), per token.
  TokenStats composite_forward_gain;
  TokenStats composite_backward_gain;
  double identity_distance = 0;  // mean of ||H_res - I||_F over all layers and tokens
};

// h_res[l] (N, n, n) is H_res of residual layer l for the N probe tokens, row-major with (H x)[i] = sum_j H[i, j] x[j]
// (spec 2). Every tensor CPU f32 or f64 (they may differ), all of one shape, at least one layer. Everything is
// computed in double with a fixed summation order; nothing is written to the inputs.
HresDiagnostics hres_diagnostics(const std::vector<Tensor>& h_res);

}  // namespace mhc::ops
