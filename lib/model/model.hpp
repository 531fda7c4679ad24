// Model: the n-stream decoder - embedding, stream expansion, residual layers, stream merge, final RMSNorm, LM head
// and loss - or one pipeline stage of it, with buffers for one micro-batch of `batch` sequences sized up front.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "config/config.hpp"
#include "core/arena.hpp"
#include "core/host_tensor.hpp"
#include "model/activations.hpp"
#include "model/parameters.hpp"
#include "model/recompute.hpp"
#include "model/residual_layer.hpp"

namespace mhc::model {

// The part of the model a pipeline stage runs: residual layers [first_layer, end_layer) (global indices, whole
// transformer blocks), with the embedding and stream expansion when `embedding`, and the stream merge, final norm,
// LM head and loss when `head`.
struct StagePart {
  std::int64_t first_layer = 0;
  std::int64_t end_layer = 0;
  bool embedding = true;
  bool head = true;

  std::int64_t layers() const { return end_layer - first_layer; }
  static StagePart whole(const config::Config& cfg);
  // Pipeline stage `stage` of cfg's resolved layout (config::resolved_layout, blocks per stage).
  static StagePart of_stage(const config::Config& cfg, std::int64_t stage);
};

// The parameter specs (model_parameter_specs order) that `part` reads: its blocks, plus embed.weight for the
// embedding and head_merge.*, final_norm.weight and lm_head.weight (embed.weight when tied) for the head.
std::vector<ParamSpec> stage_parameter_specs(const config::Config& cfg, const StagePart& part);

// One column range of token rows (batch, T + 1) i32: the inputs rows[:, :T] (shift 0) or the targets rows[:, 1:]
// (shift 1), written to out (batch * T).
void split_token_rows(const std::int32_t* rows, std::int64_t batch, std::int64_t T, int shift, std::int32_t* out);

struct ModelBuffers;  // model.cpp

class Model {
 public:
  // The whole model with its own parameters, initialised from (seed, name); buffers for micro-batches of `batch`
  // rows of cfg.model.seq_len; everything on `device` (Device::cuda: f32, ops on the calling thread's stream).
  Model(const config::Config& cfg, DType dtype, std::uint64_t seed, std::int64_t batch, Device device = Device::cpu);
  // One micro-batch slot of a pipeline stage: binds to the parameters of `part` in `store` (which must hold
  // stage_parameter_specs(cfg, part) and outlive the model); several slots may share one store and accumulate
  // into its gradients.
  Model(const config::Config& cfg, ParameterStore& store, std::int64_t batch, const StagePart& part);

  ParameterStore& store() { return *store_; }
  const ParameterStore& store() const { return *store_; }
  const StagePart& part() const { return part_; }
  std::int64_t batch() const { return batch_; }
  std::int64_t seq_len() const { return seq_len_; }

  // tokens (batch, T + 1) i32: inputs tokens[:, :T], targets tokens[:, 1:]. Forward and backward (B then W per
  // layer); every gradient += loss_weight * d(mean token loss)/d(param). Returns the mean token loss.
  double forward_backward(Tensor tokens, double loss_weight);
  // Forward only; the mean token loss of tokens (batch, T + 1).
  double forward_loss(Tensor tokens);
  // Forward of inputs (batch, T) i32 (host) without targets; returns the logits (batch * T, V) on the model's device
  // (valid until the next call).
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
  // The same for one slot of a pipeline stage.
  static std::int64_t predicted_activation_bytes(const config::Config& cfg, DType dtype, std::int64_t batch,
                                                 bool recompute, const StagePart& part);

  // Stage interface, one micro-batch: stream_input (non-first stage) or the token ids, forward_stage, then
  // stream_output (non-last) or head_loss (last); then grad_output filled (non-last), backward_input_stage (B:
  // every input gradient; the head's and, with recompute, all but the stage's first block's weight gradients too)
  // and backward_weight_stage (W: the remaining weight gradients +=). The single-process calls above are this
  // sequence on the whole model.
  // x_in (batch * T, n, C) of a non-first stage: written by the caller before forward_stage.
  Tensor stream_input();
  // inputs (batch * T) i32 token ids for a stage with the embedding, nullptr otherwise.
  void forward_stage(const std::int32_t* inputs);
  // x_out (batch * T, n, C) of a non-last stage after forward_stage (valid until backward_input_stage).
  Tensor stream_output() const;
  // Last stage: the mean token loss against targets (batch * T) i32; with loss_weight != 0 also dL/dlogits for
  // the backward, L = loss_weight * mean loss.
  double head_loss(const std::int32_t* targets, double loss_weight);
  // dL/dx_out (batch * T, n, C) of a non-last stage: written by the caller after forward_stage, before B.
  Tensor grad_output();
  void backward_input_stage();
  // dL/dx_in (batch * T, n, C) of a non-first stage after backward_input_stage (valid until the next forward).
  Tensor grad_input() const;
  void backward_weight_stage();

  // Selective recomputation (spec 5) is on: cfg.recompute.mhc with an n-stream connection kind.
  bool recompute() const { return recompute_ != nullptr; }
  // L_r, the residual layers per recompute block (recompute_block_layers for the stage's layers; blocks never
  // cross a stage boundary).
  std::int64_t block_layers() const { return block_layers_; }
  // x_l (batch * T, n, C) of the stage's layers of recompute block `block` (stage layers [block * L_r, ...)) from
  // the last forward;
  // with recompute on they are rebuilt from the stored block input (views valid until the next call; the last
  // forward can then no longer be backpropagated). Type residual keeps no x_l: ConfigError.
  std::vector<Tensor> layer_inputs(std::int64_t block);

 private:
  Model(const config::Config& cfg, std::unique_ptr<ParameterStore> owned, std::int64_t batch);
  // The connection state of stage layer l (an n-stream connection's).
  const StreamState& streams(std::size_t l) const { return contexts_[l].connection.state<StreamState>(); }
  void check_part(bool embedding, bool head, const char* call) const;
  void head_backward();  // dlogits -> dL/dx_L into grad_output(), head weight gradients +=

  config::Config cfg_;
  std::int64_t batch_, seq_len_, n_;
  std::unique_ptr<ParameterStore> owned_store_;  // the whole model's own parameters; null for a stage slot
  ParameterStore* store_;
  StagePart part_;
  std::vector<ResidualLayer> layers_;
  std::unique_ptr<Recompute> recompute_;  // null: recomputation off (or a stage without layers)
  std::vector<LayerContext> contexts_;    // with recompute: views of recompute_'s arenas
  std::int64_t block_layers_;
  // Per stage layer l (and l = L: undefined): where layer l keeps its input x_l when it keeps one (an n-stream layer
  // that saves its input), else undefined; the forward writes x_l there directly.
  std::vector<Tensor> input_slots_;
  std::vector<HostTensor> h_res_copies_;  // recompute: last_h_res results
  ActivationContext buffers_;             // ids, targets, streams, head activations and their gradients
  const ModelBuffers* buf_;               // buffers_'s typed state
  // The parameters the stage's embedding and head read (undefined where the stage has none).
  Param embed_, head_, final_norm_, gate_phi_, gate_alpha_, gate_bias_;
  Tensor x_final_;             // the stream buffer (x_a or x_b) holding x_L after forward
  Tensor dx_in_;               // the stream buffer holding dL/dx_0 after backward_input_stage
  std::vector<bool> w_pending_;  // per stage layer: B done, W not yet (backward_weight_stage runs it)
};

}  // namespace mhc::model
