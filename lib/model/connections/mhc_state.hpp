// The per-layer state of the connections that compute their coefficients with the mHC coefficient ops (mhc,
// mhc_static): one table, so that both lay it out alike.
#pragma once

#include <string>
#include <vector>

#include "model/activations.hpp"

namespace mhc::model {

// For N tokens, n streams, width C: saved x, the coefficients (h_res and its logits), proj, rstd, y = F(u) (u = H_pre
// x lives in F); backward buffers du/dh_pre/dh_post/dh_res/dres_logits/x_coef (transient: mhc_transient_entries;
// dy lives in F) and dtilde (kept for W).
inline std::vector<TensorSpec> mhc_state_specs(std::int64_t N, std::int64_t n, std::int64_t C, DType t) {
  const std::int64_t K = n * n + 2 * n;
  std::vector<TensorSpec> specs;
  append_specs(specs, t, Shape{N, n, C}, {"x"});
  append_specs(specs, t, Shape{N, C}, {"y", "du"});
  append_specs(specs, t, Shape{N}, {"rstd", "x_coef"});
  append_specs(specs, t, Shape{N, n}, {"h_pre", "h_post", "dh_pre", "dh_post"});
  append_specs(specs, t, Shape{N, n, n}, {"res_logits", "h_res", "dh_res", "dres_logits"});
  append_specs(specs, t, Shape{N, K}, {"proj", "dtilde"});
  return specs;
}

inline std::vector<std::string> mhc_transient_entries() {
  return {"du", "dh_pre", "dh_post", "dh_res", "dres_logits", "x_coef"};
}

}  // namespace mhc::model
