// The interface of a residual connection around any sublayer F (spec section 2), and the base of the mixing ones.
// The types themselves: lib/model/connections/, one file each, registered in connection_registry.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "model/activations.hpp"
#include "model/connection_kind.hpp"
#include "model/parameters.hpp"
#include "model/sublayer.hpp"

namespace mhc::model {

// The entries every n-stream connection keeps (ConnectionKind::keeps_streams): the saved input x (B*T, n, C), F's
// output y (B*T, C) and the coefficients h_pre, h_post (B*T, n) and h_res (B*T, n, n).
struct StreamState : ContextState {
  Tensor x, y, h_pre, h_post, h_res;
};

// One residual layer's update x_out = H_res x_in + H_post^T F(H_pre x_in) on the stream state x (B*T, n, C).
// The connection owns the coefficient math and calls F through the Sublayer interface; ctx.sublayer belongs to F.
class Connection {
 public:
  virtual ~Connection() = default;

  // The tensors the connection keeps in ctx.connection for a micro-batch of `batch` sequences, from its state table.
  // F's input u and its output gradient dy are not among them: the connection writes them straight into F's slots.
  virtual ContextLayout activation_layout(std::int64_t batch) const = 0;
  // A context of that layout whose entries named in `views` are those views (selective recomputation).
  ActivationContext make_context(std::int64_t batch, const TensorViews& views = {}) const;
  std::int64_t n_streams() const { return n_; }

  // x_out (B*T, n, C) overwritten; must not alias x_in (B*T, n, C). Saves what the backward needs (x_in included
  // where the backward reads it, so x_in need not outlive the call; not when ctx.saves_input is false).
  virtual void forward(const LayerContext& ctx, Tensor x_in, Tensor x_out, Sublayer& f) = 0;
  // B: dx_in (B*T, n, C) = dL/dx_in from dx_out (B*T, n, C) (overwritten; must not alias dx_out), calling
  // f.backward_input. Keeps in ctx what W needs.
  virtual void backward_input(const LayerContext& ctx, Tensor dx_out, Tensor dx_in, Sublayer& f) = 0;
  // W: f.backward_weight and the connection's weight gradients += (after backward_input on the same ctx).
  virtual void backward_weight(const LayerContext& ctx, Sublayer& f) = 0;
  // Selective recomputation (spec 5): everything forward does except running F, with F's output y already in
  // the state's y: saves x_in (unless it is ctx's "x" already), rebuilds the coefficients, F's input
  // u = H_pre x and f.rebuild_input, and writes x_out unless it is undefined (a block's last layer). Every tensor
  // is bitwise forward's (same deterministic ops on the same inputs).
  virtual void forward_from_f_output(const LayerContext& ctx, Tensor x_in, Tensor x_out, Sublayer& f) = 0;

 protected:
  // device: where make_context allocates (the parameters' device).
  Connection(const config::Config& cfg, std::string prefix, std::int64_t n, Device device);
  // Checks x-like arguments: (B*T, n, C), rows a multiple of T, dtype `dtype`.
  void check_streams(Tensor t, DType dtype, const char* what) const;

  std::string prefix_;  // e.g. "blocks.3.attn.conn"
  std::int64_t n_, seq_len_, d_model_;
  Device device_;
};

// The n-stream connections (hc, mhc, mhc_static): x_out = H_res x + H_post^T F(H_pre x) with coefficients
// computed by the subclass. The update, the checks of the backward and the recompute are shared here; subclasses
// supply the coefficient math and the order of their backward. Their states derive from StreamState.
class MixingConnection : public Connection {
 public:
  void forward(const LayerContext& ctx, Tensor x_in, Tensor x_out, Sublayer& f) final;
  void backward_input(const LayerContext& ctx, Tensor dx_out, Tensor dx_in, Sublayer& f) final;
  void backward_weight(const LayerContext& ctx, Sublayer& f) final;
  void forward_from_f_output(const LayerContext& ctx, Tensor x_in, Tensor x_out, Sublayer& f) final;

 protected:
  // kind: the type's name, for messages.
  MixingConnection(const config::Config& cfg, const ParameterStore& store, std::string prefix, const char* kind);
  // From x (B*T, n, C) (x_in or its saved copy, the state's x): h_pre, h_post, h_res and whatever the backward needs,
  // and F's input u (B*T, C) = sum_i h_pre[i] x[i].
  virtual void coefficients_forward(const ActivationContext& c, Tensor x, Tensor u) = 0;
  // B on checked tensors: dx_in (overwritten) = dL/dx from dx_out, through F (f.backward_input) and the
  // coefficients; keeps in ctx what W needs.
  virtual void streams_backward_input(const LayerContext& ctx, Tensor dx_out, Tensor dx_in, Sublayer& f) = 0;
  // The connection's own weight gradients += .
  virtual void coefficients_backward_weight(const ActivationContext& c) = 0;

  const ParameterStore& store_;

 private:
  // Checks x_in and x_out (when defined), saves x_in into the state's x if `save` (unless it is that tensor) and
  // computes the coefficients and u = H_pre x into F's input slot of ctx.
  void prepare_forward(const LayerContext& ctx, Tensor x_in, Tensor x_out, bool save, const char* phase);
  std::string kind_;  // e.g. "mhc", for messages
};

}  // namespace mhc::model
