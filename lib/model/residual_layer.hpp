// ResidualLayer: one residual layer of the model = a connection (residual | hc | mhc) wrapping a sublayer F.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "config/config.hpp"
#include "model/activations.hpp"
#include "model/connection.hpp"
#include "model/parameters.hpp"
#include "model/sublayer.hpp"

namespace mhc::model {

enum class SublayerKind : std::uint8_t { attention, mlp };

class ResidualLayer {
 public:
  // Binds to the parameters "blocks.<block>.attn.*" or "blocks.<block>.mlp.*" of `store` (global names); the
  // connection type and sizes come from cfg. The store must outlive the layer.
  ResidualLayer(const config::Config& cfg, const ParameterStore& store, std::int64_t block, SublayerKind kind);

  // A fresh context for one micro-batch of `batch` sequences (rows B*T).
  LayerContext make_context(std::int64_t batch) const;
  // Bytes one micro-batch in flight holds in its context (the activation accounting of `plan`).
  std::int64_t activation_bytes(std::int64_t batch) const;

  // x_out (B*T, n, C) = the layer applied to x_in (B*T, n, C); see Connection for the aliasing rules.
  void forward(const LayerContext& ctx, Tensor x_in, Tensor x_out) { connection_->forward(ctx, x_in, x_out, *f_); }
  // B: dx_in (B*T, n, C) overwritten from dx_out.
  void backward_input(const LayerContext& ctx, Tensor dx_out, Tensor dx_in) {
    connection_->backward_input(ctx, dx_out, dx_in, *f_);
  }
  // W: every weight gradient of the layer += .
  void backward_weight(const LayerContext& ctx) { connection_->backward_weight(ctx, *f_); }
  // Recomputation: the connection's forward with F's output already in its state's y (F is not run; its input
  // entries are rebuilt); x_out may be undefined (not written).
  void forward_from_f_output(const LayerContext& ctx, Tensor x_in, Tensor x_out) {
    connection_->forward_from_f_output(ctx, x_in, x_out, *f_);
  }
  // A context whose connection part is made of the views `connection` only and whose F part takes `f_input` (F's
  // input entries) as views and owns the rest (selective recomputation); ShapeError when a view is missing or does
  // not match the layout.
  LayerContext make_context_sharing(std::int64_t batch, const TensorViews& connection, const TensorViews& f_input,
                                    bool saves_input) const;

  std::int64_t n_streams() const { return connection_->n_streams(); }
  const std::string& prefix() const { return prefix_; }

 private:
  std::string prefix_;  // "blocks.<block>.attn" or "blocks.<block>.mlp"
  Device device_;       // the parameters', where contexts are allocated
  std::unique_ptr<Sublayer> f_;
  std::unique_ptr<Connection> connection_;
};

}  // namespace mhc::model
