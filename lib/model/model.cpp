// The whole model: embedding -> expand -> residual layers -> merge -> final RMSNorm -> LM head -> cross-entropy.
#include "model/model.hpp"

#include <algorithm>
#include <utility>

#include "core/copy.hpp"

#include "ops/cross_entropy.hpp"
#include "ops/elementwise.hpp"
#include "ops/embedding.hpp"
#include "ops/head_merge.hpp"
#include "ops/matmul.hpp"
#include "ops/rmsnorm.hpp"

namespace mhc::model {

// The model's own buffers for one micro-batch of N tokens.
struct ModelBuffers : ContextState {
  Tensor x_a, x_b;         // (N, n, C): the stream ping-pong buffers
  Tensor ids, h, dh;       // embedding: ids (N) i32, h = embed(ids) and its gradient (N, C)
  Tensor targets, y, y_norm, norm_rstd, logits, lse, losses, dy_norm, dy;  // head (loss and its backward)
  Tensor gate_w, gate_proj, gate_dlogit, gate_rstd;                        // head-merge gate
};

namespace {

StateTable<ModelBuffers> buffer_table(const config::Config& cfg, DType t, std::int64_t batch, const StagePart& part) {
  using S = ModelBuffers;
  const std::int64_t N = batch * cfg.model.seq_len, C = cfg.model.d_model, V = cfg.model.vocab_size;
  const std::int64_t n = cfg.residual.n_streams;
  StateTable<S> table;
  add_fields<S>(table, t, Shape{N, n, C}, {{"x_a", &S::x_a}, {"x_b", &S::x_b}});
  if (part.embedding) {
    add_fields<S>(table, DType::i32, Shape{N}, {{"ids", &S::ids}});
    add_fields<S>(table, t, Shape{N, C}, {{"h", &S::h}, {"dh", &S::dh}});
  }
  if (!part.head) return table;
  add_fields<S>(table, DType::i32, Shape{N}, {{"targets", &S::targets}});
  add_fields<S>(table, t, Shape{N, C}, {{"y", &S::y}, {"y_norm", &S::y_norm}});
  add_fields<S>(table, t, Shape{N}, {{"norm_rstd", &S::norm_rstd}});
  add_fields<S>(table, t, Shape{N, V}, {{"logits", &S::logits}});
  add_fields<S>(table, t, Shape{N}, {{"lse", &S::lse}, {"losses", &S::losses}});
  add_fields<S>(table, t, Shape{N, C}, {{"dy_norm", &S::dy_norm}, {"dy", &S::dy}});
  if (cfg.residual.head_merge == config::HeadMerge::gate) {
    add_fields<S>(table, t, Shape{N, n},
                  {{"gate_w", &S::gate_w}, {"gate_proj", &S::gate_proj}, {"gate_dlogit", &S::gate_dlogit}});
    add_fields<S>(table, t, Shape{N}, {{"gate_rstd", &S::gate_rstd}});
  }
  return table;
}

std::int64_t layer_count(const config::Config& cfg) { return 2 * cfg.model.n_blocks; }

// The parameter `name` of the store, or undefined when `held` is false.
Param param_if(const ParameterStore& store, bool held, const std::string& name) {
  return held ? Param{store.param(name), store.grad(name), store.matmul_operand(name)} : Param{};
}

// Summed on the host in token order, whatever device the losses are on.
double mean_of(Tensor losses) {
  HostTensor host(losses.dtype, losses.shape);
  copy_tensor(host.view(), losses);
  const Tensor h = host.view();
  double sum = 0;
  const std::int64_t N = h.numel();
  for (std::int64_t k = 0; k < N; ++k)
    sum += h.dtype == DType::f64 ? h.ptr<double>()[k] : static_cast<double>(h.ptr<float>()[k]);
  return sum / static_cast<double>(N);
}

// Host token ids into `dst` (N) on any device.
void upload_ids(Tensor dst, const std::int32_t* ids) {
  copy_tensor(dst, Tensor(const_cast<std::int32_t*>(ids), DType::i32, dst.shape));
}

}  // namespace

StagePart StagePart::whole(const config::Config& cfg) { return StagePart{0, layer_count(cfg), true, true}; }

StagePart StagePart::of_stage(const config::Config& cfg, std::int64_t stage) {
  const auto layout = config::resolved_layout(cfg);
  const auto stages = static_cast<std::int64_t>(layout.size());
  MHC_CHECK(stage >= 0 && stage < stages, ConfigError, "pipeline stage ", stage, " out of range [0, ", stages, ")");
  std::int64_t first_block = 0;
  for (std::int64_t s = 0; s < stage; ++s) first_block += layout[static_cast<std::size_t>(s)];
  const std::int64_t end_block = first_block + layout[static_cast<std::size_t>(stage)];
  return StagePart{2 * first_block, 2 * end_block, stage == 0, stage == stages - 1};
}

std::vector<ParamSpec> stage_parameter_specs(const config::Config& cfg, const StagePart& part) {
  std::vector<ParamSpec> out;
  for (auto& s : model_parameter_specs(cfg)) {
    const bool in_blocks = s.layer >= part.first_layer && s.layer < part.end_layer;
    const bool embedding = s.name == "embed.weight" && (part.embedding || (part.head && cfg.model.tie_embeddings));
    const bool head = s.block < 0 && s.name != "embed.weight" && part.head;
    if (in_blocks || embedding || head) out.push_back(std::move(s));
  }
  return out;
}

void split_token_rows(const std::int32_t* rows, std::int64_t batch, std::int64_t T, int shift, std::int32_t* out) {
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t t = 0; t < T; ++t) out[b * T + t] = rows[b * (T + 1) + t + shift];
}

Model::Model(const config::Config& cfg, DType dtype, std::uint64_t seed, std::int64_t batch, Device device)
    : Model(cfg, std::make_unique<ParameterStore>(model_parameter_specs(cfg), cfg, dtype, seed, device), batch) {}

Model::Model(const config::Config& cfg, std::unique_ptr<ParameterStore> owned, std::int64_t batch)
    : Model(cfg, *owned, batch, StagePart::whole(cfg)) {
  owned_store_ = std::move(owned);
}

Model::Model(const config::Config& cfg, ParameterStore& store, std::int64_t batch, const StagePart& part)
    : cfg_(cfg),
      batch_(batch),
      seq_len_(cfg.model.seq_len),
      n_(cfg.residual.n_streams),
      store_(&store),
      part_(part),
      block_layers_(recompute_block_layers(cfg, part.layers())),
      buffers_("model buffers", layout_of(buffer_table(cfg, store.dtype(), batch, part)), {}, store.device()),
      buf_(&buffers_.state<ModelBuffers>()) {
  MHC_CHECK(batch >= 1, ConfigError, "micro-batch size must be >= 1, got ", batch);
  MHC_CHECK(part.first_layer % 2 == 0 && part.end_layer % 2 == 0 && part.first_layer <= part.end_layer &&
                part.end_layer <= layer_count(cfg),
            ConfigError, "stage layers [", part.first_layer, ", ", part.end_layer,
            ") are not whole transformer blocks of the model's ", layer_count(cfg), " residual layers");
  for (std::int64_t b = part.first_layer / 2; b < part.end_layer / 2; ++b) {
    layers_.emplace_back(cfg, store, b, SublayerKind::attention);
    layers_.emplace_back(cfg, store, b, SublayerKind::mlp);
  }
  w_pending_.assign(layers_.size(), false);
  if (recompute_on(cfg) && !layers_.empty()) {
    recompute_ = std::make_unique<Recompute>(cfg, layers_, store.dtype(), store.device(), batch);
    contexts_ = recompute_->layer_contexts(layers_, batch);
  } else {
    for (const auto& layer : layers_) contexts_.push_back(layer.make_context(batch));
  }
  const bool keeps = cfg.residual.type->keeps_streams();
  for (std::size_t l = 0; l <= layers_.size(); ++l)
    input_slots_.push_back(l < layers_.size() && keeps && contexts_[l].saves_input ? streams(l).x : Tensor());
  const bool tied = cfg.model.tie_embeddings, gate = cfg.residual.head_merge == config::HeadMerge::gate;
  embed_ = param_if(store, part.embedding || (part.head && tied), "embed.weight");
  head_ = param_if(store, part.head, tied ? "embed.weight" : "lm_head.weight");
  final_norm_ = param_if(store, part.head, "final_norm.weight");
  gate_phi_ = param_if(store, part.head && gate, "head_merge.phi");
  gate_alpha_ = param_if(store, part.head && gate, "head_merge.alpha");
  gate_bias_ = param_if(store, part.head && gate, "head_merge.bias");
}

std::int64_t Model::predicted_activation_bytes(const config::Config& cfg, DType dtype, std::int64_t batch,
                                               bool recompute) {
  return predicted_activation_bytes(cfg, dtype, batch, recompute, StagePart::whole(cfg));
}

std::int64_t Model::predicted_activation_bytes(const config::Config& cfg, DType dtype, std::int64_t batch,
                                               bool recompute, const StagePart& part) {
  const std::int64_t L = part.layers();
  const std::int64_t buffers = Arena::bytes_needed(specs_of(buffer_table(cfg, dtype, batch, part)));
  config::Config c = cfg;
  c.recompute.mhc = recompute;
  if (recompute_on(c) && L > 0) return buffers + Recompute::predicted_bytes(cfg, dtype, batch, L);
  return buffers +
         L / 2 *
             (Arena::bytes_needed(attention_activation_specs(cfg, dtype, batch)) +
              Arena::bytes_needed(mlp_activation_specs(cfg, dtype, batch))) +
         L * Arena::bytes_needed(cfg.residual.type->activation_layout(cfg, dtype, batch).specs);
}

void Model::check_part(bool embedding, bool head, const char* call) const {
  MHC_CHECK((!embedding || part_.embedding) && (!head || part_.head), ConfigError, call, ": this stage (layers [",
            part_.first_layer, ", ", part_.end_layer, ")) has no ", embedding ? "embedding" : "head");
}

Tensor Model::stream_input() {
  MHC_CHECK(!part_.embedding, ConfigError, "stream_input: the first stage starts from token ids");
  return input_slots_[0].defined() ? input_slots_[0] : buf_->x_a;
}

void Model::forward_stage(const std::int32_t* inputs) {
  // Each x_l goes straight where layer l keeps it when it does (no copy); the others ping-pong between x_a and x_b.
  const ModelBuffers& b = *buf_;
  Tensor x = input_slots_[0].defined() ? input_slots_[0] : b.x_a;
  if (part_.embedding) {
    MHC_CHECK(inputs != nullptr, ConfigError, "forward_stage: the first stage needs token ids");
    upload_ids(b.ids, inputs);
    ops::embedding_forward(b.h, b.ids, embed_.value);
    // Expansion x_0 = (h, ..., h): the backward of the stream sum writes dy to every stream.
    ops::stream_sum_backward(x, b.h);
  }
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const Tensor slot = input_slots_[l + 1];
    const Tensor x_next = slot.defined() ? slot : (x.data == b.x_a.data ? b.x_b : b.x_a);
    layers_[l].forward(contexts_[l], x, x_next);
    x = x_next;
  }
  if (recompute_) recompute_->forward_done(layers_.size());
  x_final_ = x;
  if (!part_.head) return;
  if (cfg_.residual.head_merge == config::HeadMerge::gate) {
    ops::head_merge_gate_forward(b.y, b.gate_w, b.gate_proj, b.gate_rstd, x, gate_phi_.value, gate_alpha_.value,
                                 gate_bias_.value);
  } else {
    ops::stream_sum_forward(b.y, x);
  }
  ops::rmsnorm_forward(b.y_norm, b.norm_rstd, b.y, final_norm_.value, kNormEps);
  ops::linear_forward(b.logits, b.y_norm, head_.value);
}

Tensor Model::stream_output() const {
  MHC_CHECK(!part_.head, ConfigError, "stream_output: the last stage ends in the loss");
  return x_final_;
}

double Model::head_loss(const std::int32_t* targets, double loss_weight) {
  check_part(false, true, "head_loss");
  const std::int64_t N = batch_ * seq_len_;
  const ModelBuffers& b = *buf_;
  upload_ids(b.targets, targets);
  ops::softmax_xent_forward(b.losses, b.lse, b.logits, b.targets);
  const double loss = mean_of(b.losses);
  if (loss_weight != 0.0)  // dlogits in place
    ops::softmax_xent_backward(b.logits, b.logits, b.lse, b.targets, loss_weight / static_cast<double>(N));
  return loss;
}

Tensor Model::grad_output() {
  // Stream gradients ping-pong between the stream buffer not holding x_L and x_L's own buffer (x_L is no longer
  // needed then: every layer saved what its backward reads).
  return x_final_.data == buf_->x_a.data ? buf_->x_b : buf_->x_a;
}

void Model::head_backward() {
  const ModelBuffers& b = *buf_;
  const Tensor dlogits = b.logits;
  ops::linear_backward_input(b.dy_norm, dlogits, head_.value);
  ops::linear_backward_weight(head_.grad, dlogits, b.y_norm);
  ops::rmsnorm_backward_input(b.dy, b.dy_norm, b.y, final_norm_.value, b.norm_rstd);
  ops::rmsnorm_backward_weight(final_norm_.grad, b.dy_norm, b.y, b.norm_rstd);
  Tensor dx = grad_output();
  if (cfg_.residual.head_merge == config::HeadMerge::gate) {
    ops::head_merge_gate_backward_input(dx, b.gate_dlogit, b.dy, x_final_, gate_phi_.value, gate_alpha_.value,
                                        b.gate_w, b.gate_proj, b.gate_rstd);
    ops::head_merge_gate_backward_weight(gate_phi_.grad, gate_alpha_.grad, gate_bias_.grad, b.gate_dlogit, x_final_,
                                         b.gate_proj, b.gate_rstd, gate_alpha_.value);
  } else {
    ops::stream_sum_backward(dx, b.dy);
  }
}

void Model::backward_input_stage() {
  if (part_.head) head_backward();
  Tensor dx = grad_output();
  Tensor dx_prev = x_final_;
  // With recompute, a block's connection state is rebuilt when the backward enters it (its last layer). The shared
  // contexts are reused by the next block's rebuild, so the W of every block but the stage's first runs before it.
  for (std::size_t k = layers_.size(); k-- > 0;) {
    if (recompute_ && recompute_->enters_block(k, layers_.size())) {
      for (std::size_t j = k + 1; j < layers_.size() && w_pending_[j]; ++j) {
        layers_[j].backward_weight(contexts_[j]);
        w_pending_[j] = false;
      }
      recompute_->rebuild(recompute_->block_of(k), layers_, contexts_);
    }
    layers_[k].backward_input(contexts_[k], dx, dx_prev);
    w_pending_[k] = true;
    std::swap(dx, dx_prev);
  }
  dx_in_ = dx;  // dL/dx_0 of the stage
  // The expansion's backward sums the streams.
  if (part_.embedding) ops::stream_sum_forward(buf_->dh, dx);
}

Tensor Model::grad_input() const {
  MHC_CHECK(!part_.embedding, ConfigError, "grad_input: the first stage ends in the embedding's gradient");
  return dx_in_;
}

void Model::backward_weight_stage() {
  for (std::size_t k = layers_.size(); k-- > 0;) {
    if (!w_pending_[k]) continue;
    layers_[k].backward_weight(contexts_[k]);
    w_pending_[k] = false;
  }
  if (part_.embedding)
    ops::embedding_backward_weight(embed_.grad, buf_->dh, buf_->ids);
}

double Model::forward_backward(Tensor tokens, double loss_weight) {
  check_part(true, true, "forward_backward");
  const std::int64_t N = batch_ * seq_len_;
  expect_shape(tokens, Shape{batch_, seq_len_ + 1}, "tokens");
  expect_dtype(tokens, DType::i32, "tokens");
  std::vector<std::int32_t> inputs(static_cast<std::size_t>(N)), targets(static_cast<std::size_t>(N));
  split_token_rows(tokens.ptr<std::int32_t>(), batch_, seq_len_, 0, inputs.data());
  split_token_rows(tokens.ptr<std::int32_t>(), batch_, seq_len_, 1, targets.data());
  forward_stage(inputs.data());
  const double loss = head_loss(targets.data(), loss_weight);
  if (loss_weight != 0.0) {
    backward_input_stage();
    backward_weight_stage();
  }
  return loss;
}

double Model::forward_loss(Tensor tokens) { return forward_backward(tokens, 0.0); }

Tensor Model::forward_logits(Tensor inputs) {
  check_part(true, true, "forward_logits");
  expect_shape(inputs, Shape{batch_, seq_len_}, "inputs");
  expect_dtype(inputs, DType::i32, "inputs");
  forward_stage(inputs.ptr<std::int32_t>());
  return buf_->logits;
}

std::vector<Tensor> Model::layer_inputs(std::int64_t block) {
  MHC_CHECK(cfg_.residual.type->keeps_streams(), ConfigError, "layer_inputs: residual.type \"",
            std::string(cfg_.residual.type->name()), "\" keeps no stream state x_l");
  const std::int64_t L = static_cast<std::int64_t>(layers_.size());
  const std::int64_t blocks = recompute_block_count(L, block_layers_);
  MHC_CHECK(block >= 0 && block < blocks, ShapeError, "layer_inputs: block ", block, " out of range [0, ", blocks,
            ")");
  if (recompute_) recompute_->rebuild(block, layers_, contexts_);
  std::vector<Tensor> x;
  for (std::int64_t l = block * block_layers_; l < std::min(L, (block + 1) * block_layers_); ++l)
    x.push_back(streams(static_cast<std::size_t>(l)).x);
  return x;
}

std::vector<Tensor> Model::last_h_res() {
  std::vector<Tensor> h;
  if (!cfg_.residual.type->keeps_streams()) return h;
  if (!recompute_) {
    for (std::size_t l = 0; l < contexts_.size(); ++l) h.push_back(streams(l).h_res);
    return h;
  }
  h_res_copies_.clear();
  const std::int64_t L = static_cast<std::int64_t>(layers_.size());
  for (std::int64_t b = 0; b < recompute_block_count(L, block_layers_); ++b) {
    layer_inputs(b);
    for (std::int64_t l = b * block_layers_; l < std::min(L, (b + 1) * block_layers_); ++l) {
      const Tensor src = streams(static_cast<std::size_t>(l)).h_res;
      h_res_copies_.emplace_back(src.dtype, src.shape);
      copy_tensor(h_res_copies_.back().view(), src);
    }
  }
  for (auto& t : h_res_copies_) h.push_back(t.view());
  return h;
}

std::int64_t Model::activation_bytes() const {
  std::int64_t total = buffers_.bytes_held() + (recompute_ ? recompute_->bytes_held() : 0);
  for (const auto& ctx : contexts_) total += ctx.bytes_held();
  return total;
}

}  // namespace mhc::model
