// Model: the whole n-stream decoder on one process - embedding, stream expansion, residual layers, stream merge,
// final RMSNorm, LM head and loss - with buffers for one micro-batch of `batch` sequences sized up front.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "config/config.hpp"
#include "core/arena.hpp"
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
  std::vector<Tensor> last_h_res() const;
  // Bytes of activations and work buffers held for one micro-batch in flight.
  std::int64_t activation_bytes() const;

 private:
  void forward(const std::int32_t* inputs);  // fills logits_
  void backward();                            // from dlogits (in logits_) to every gradient

  config::Config cfg_;
  std::int64_t batch_, seq_len_, n_;
  ParameterStore store_;
  std::vector<ResidualLayer> layers_;
  std::vector<LayerContext> contexts_;
  ActivationContext buffers_;  // ids, targets, streams, head activations and their gradients
  Tensor x_final_;             // the stream buffer holding x_L after forward
};

}  // namespace mhc::model
