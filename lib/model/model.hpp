// Model: the whole n-stream decoder on one process - embedding, stream expansion, residual layers, stream merge,
// final RMSNorm, LM head and loss - with buffers for one micro-batch of `batch` sequences sized up front.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "config/config.hpp"
#include "core/arena.hpp"
#include "core/host_tensor.hpp"
#include "model/activations.hpp"
#include "model/parameters.hpp"
#include "model/residual_layer.hpp"

namespace mhc::model {

class Model {
 public:
  // Parameters initialised from (seed, name); buffers for micro-batches of `batch` rows of cfg.model.seq_len.
  Model(const config::Config& cfg, DType dtype, std::uint64_t seed, std::int64_t batch);

  ParameterStore& store() { return store_; }
  const ParameterStore& store() const { return store_; }
  std::int64_t batch() const { return batch_; }
  std::int64_t seq_len() const { return seq_len_; }

  // tokens (batch, T + 1) i32: inputs tokens[:, :T], targets tokens[:, 1:]. Forward and backward (B then W per
  // layer); every gradient += loss_weight * d(mean token loss)/d(param). Returns the mean token loss.
  double forward_backward(Tensor tokens, double loss_weight);
  // Forward only; the mean token loss of tokens (batch, T + 1).
  double forward_loss(Tensor tokens);
  // Forward of inputs (batch, T) i32 without targets; returns the logits (batch * T, V) (valid until the next call).
  Tensor forward_logits(Tensor inputs);

  // H_res (batch * T, n, n) of every residual layer from the last forward, layer order; empty for type residual.
  // With recompute on they are rebuilt block by block into copies (valid until the next call); the last forward
  // can then no longer be backpropagated (call forward_backward afresh).
  std::vector<Tensor> last_h_res();
  // Bytes of activations and work buffers held for one micro-batch in flight (every activation arena).
  std::int64_t activation_bytes() const;
  // What activation_bytes() is for a Model(cfg, dtype, seed, batch) with recompute on or off, without building
  // it (the `plan` prediction; docs/math.md "Selective recomputation").
  static std::int64_t predicted_activation_bytes(const config::Config& cfg, DType dtype, std::int64_t batch,
                                                 bool recompute);

  // Selective recomputation (spec 5) is on: cfg.recompute.mhc with an hc or mhc connection.
  bool recompute() const { return recompute_; }
  // L_r for cfg: "auto" = round(sqrt(n L / (n + 2))) (spec 5's minimum), "stage" = L, k = min(k, L); L = 2 blocks.
  static std::int64_t resolve_block_layers(const config::Config& cfg);
  // L_r, the residual layers per recompute block (resolved from recompute.block_layers).
  std::int64_t block_layers() const { return block_layers_; }
  // x_l (batch * T, n, C) of the layers of recompute block `block` (layers [block * L_r, ...)) from the last forward;
  // with recompute on they are rebuilt from the stored block input (views valid until the next call; the last
  // forward can then no longer be backpropagated). Type residual keeps no x_l: ConfigError.
  std::vector<Tensor> layer_inputs(std::int64_t block);

 private:
  void forward(const std::int32_t* inputs);  // fills logits_
  void backward();                            // from dlogits (in logits_) to every gradient
  // Rebuilds the connection state and F inputs of the layers of block b from its stored input and F outputs
  // (nothing to do when they are still there).
  void recompute_block(std::int64_t b);

  config::Config cfg_;
  std::int64_t batch_, seq_len_, n_;
  ParameterStore store_;
  std::vector<ResidualLayer> layers_;
  std::vector<LayerContext> contexts_;  // with recompute: connection parts are views of shared_
  bool recompute_;
  std::int64_t block_layers_;
  std::vector<ActivationContext> shared_;  // recompute: per block position connection state, F input; transient
  ActivationContext saved_;                // recompute: "x_block.<b>" (N, n, C) and "y.<l>" (N, C)
  std::int64_t resident_block_ = -1;       // recompute: the block whose state the shared contexts hold
  std::vector<HostTensor> h_res_copies_;   // recompute: last_h_res results
  ActivationContext buffers_;  // ids, targets, streams, head activations and their gradients
  Tensor x_final_;             // the stream buffer holding x_L after forward
};

}  // namespace mhc::model
