// The per-layer state of the connections that compute their coefficients with the mHC coefficient ops (mhc,
// mhc_static): one struct and one table, so that both lay it out alike.
#pragma once

#include "model/activations.hpp"
#include "model/connection.hpp"

namespace mhc::model {

// Beyond StreamState: proj (N, K), rstd (N); backward buffers du (N, C), dh_pre/dh_post (N, n),
// dh_res/dres_logits (N, n, n), x_coef (N) (transient; dy lives in F) and dtilde (N, K) (kept for W).
struct MhcState : StreamState {
  Tensor res_logits, proj, rstd, du, x_coef, dh_pre, dh_post, dh_res, dres_logits, dtilde;
};

// The table of S (MhcState or a state derived from it) for N tokens, n streams, width C: saved x, the coefficients
// (h_res and its logits), proj, rstd, y = F(u) (u = H_pre x lives in F), then the backward buffers.
template <class S>
StateTable<S> mhc_state_table(std::int64_t N, std::int64_t n, std::int64_t C, DType t) {
  const std::int64_t K = n * n + 2 * n;
  constexpr EntryRole transient = EntryRole::transient;
  StateTable<S> table;
  add_fields<S>(table, t, Shape{N, n, C}, {{"x", &S::x}});
  add_fields<S>(table, t, Shape{N, C}, {{"y", &S::y}});
  add_fields<S>(table, t, Shape{N, C}, {{"du", &S::du}}, transient);
  add_fields<S>(table, t, Shape{N}, {{"rstd", &S::rstd}});
  add_fields<S>(table, t, Shape{N}, {{"x_coef", &S::x_coef}}, transient);
  add_fields<S>(table, t, Shape{N, n}, {{"h_pre", &S::h_pre}, {"h_post", &S::h_post}});
  add_fields<S>(table, t, Shape{N, n}, {{"dh_pre", &S::dh_pre}, {"dh_post", &S::dh_post}}, transient);
  add_fields<S>(table, t, Shape{N, n, n}, {{"res_logits", &S::res_logits}, {"h_res", &S::h_res}});
  add_fields<S>(table, t, Shape{N, n, n}, {{"dh_res", &S::dh_res}, {"dres_logits", &S::dres_logits}}, transient);
  add_fields<S>(table, t, Shape{N, K}, {{"proj", &S::proj}, {"dtilde", &S::dtilde}});
  return table;
}

}  // namespace mhc::model
