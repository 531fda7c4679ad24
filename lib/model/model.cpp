// The whole model: embedding -> expand -> residual layers -> merge -> final RMSNorm -> LM head -> cross-entropy.
#include "model/model.hpp"

#include <algorithm>
#include <cmath>

#include "core/copy.hpp"

#include "ops/cross_entropy.hpp"
#include "ops/elementwise.hpp"
#include "ops/embedding.hpp"
#include "ops/head_merge.hpp"
#include "ops/matmul.hpp"
#include "ops/rmsnorm.hpp"

namespace mhc::model {

namespace {

std::vector<TensorSpec> buffer_specs(const config::Config& cfg, DType t, std::int64_t batch, const StagePart& part) {
  const std::int64_t N = batch * cfg.model.seq_len, C = cfg.model.d_model, V = cfg.model.vocab_size;
  const std::int64_t n = cfg.residual.n_streams;
  std::vector<TensorSpec> s{{"x_a", t, Shape{N, n, C}}, {"x_b", t, Shape{N, n, C}}};
  if (part.embedding)
    for (TensorSpec e : {TensorSpec{"ids", DType::i32, Shape{N}}, {"h", t, Shape{N, C}}, {"dh", t, Shape{N, C}}})
      s.push_back(e);
  if (!part.head) return s;
  for (TensorSpec e : {TensorSpec{"targets", DType::i32, Shape{N}}, {"y", t, Shape{N, C}}, {"y_norm", t, Shape{N, C}},
                       {"norm_rstd", t, Shape{N}}, {"logits", t, Shape{N, V}}, {"lse", t, Shape{N}},
                       {"losses", t, Shape{N}}, {"dy_norm", t, Shape{N, C}}, {"dy", t, Shape{N, C}}})
    s.push_back(e);
  if (cfg.residual.head_merge == config::HeadMerge::gate) {
    for (const char* name : {"gate_w", "gate_proj", "gate_dlogit"}) s.push_back({name, t, Shape{N, n}});
    s.push_back({"gate_rstd", t, Shape{N}});
  }
  return s;
}

std::int64_t layer_count(const config::Config& cfg) { return 2 * cfg.model.n_blocks; }

std::int64_t block_count(std::int64_t layers, std::int64_t block_layers) {
  return (layers + block_layers - 1) / block_layers;
}

// The recompute store of a stage of L residual layers: every block's input stream state and every layer's F output.
std::vector<TensorSpec> saved_specs(const config::Config& cfg, DType t, std::int64_t batch, std::int64_t L,
                                    std::int64_t block_layers) {
  const std::int64_t N = batch * cfg.model.seq_len, C = cfg.model.d_model, n = cfg.residual.n_streams;
  std::vector<TensorSpec> s;
  for (std::int64_t b = 0; b < block_count(L, block_layers); ++b)
    s.push_back({"x_block." + std::to_string(b), t, Shape{N, n, C}});
  for (std::int64_t l = 0; l < L; ++l) s.push_back({"y." + std::to_string(l), t, Shape{N, C}});
  return s;
}

// The recompute arenas shared by the layers, by name: per block position j the connection state (without y, kept in
// the store, and for j = 0 without x, the stored block input), then per position F's input entries (u, RMSNorm(u),
// rstd), then one set of the connection's transient backward buffers.
std::vector<std::pair<std::string, std::vector<TensorSpec>>> shared_tables(const config::Config& cfg, DType t,
                                                                           std::int64_t batch,
                                                                           std::int64_t block_layers) {
  const std::vector<TensorSpec> conn = cfg.residual.type->activation_specs(cfg, t, batch);
  const std::vector<std::string> transient = cfg.residual.type->transient_entries();
  std::vector<std::pair<std::string, std::vector<TensorSpec>>> tables;
  for (std::int64_t j = 0; j < block_layers; ++j) {
    std::vector<std::string> elsewhere = transient;
    elsewhere.push_back("y");
    if (j == 0) elsewhere.push_back("x");
    tables.emplace_back("recompute connection " + std::to_string(j), specs_without(conn, elsewhere));
  }
  for (std::int64_t j = 0; j < block_layers; ++j) {  // layer l is attention for even l
    const auto f = j % 2 == 0 ? attention_activation_specs(cfg, t, batch) : mlp_activation_specs(cfg, t, batch);
    tables.emplace_back("recompute F input " + std::to_string(j), specs_named(f, Sublayer::input_entries()));
  }
  tables.emplace_back("recompute transient", specs_named(conn, transient));
  return tables;
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

bool recompute_on(const config::Config& cfg) {
  return cfg.recompute.mhc && cfg.residual.type->keeps_streams();
}

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
      recompute_(recompute_on(cfg)),
      block_layers_(resolve_block_layers(cfg, part)),
      buffers_("model buffers", buffer_specs(cfg, store.dtype(), batch, part), {}, store.device()) {
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
  if (!recompute_ || layers_.empty()) {
    recompute_ = false;
    for (const auto& layer : layers_) contexts_.push_back(layer.make_context(batch));
    return;
  }
  // Every connection of a model has the same layout, so block position j of every block shares one connection
  // state and one F input; every layer shares the transient buffers; y and the block input x live in the store.
  for (const auto& [name, specs] : shared_tables(cfg, store.dtype(), batch, block_layers_))
    shared_.emplace_back(name, specs, TensorViews{}, store.device());
  saved_ = ActivationContext("recompute store", saved_specs(cfg, store.dtype(), batch, part.layers(), block_layers_),
                             {}, store.device());
  const auto Lr = static_cast<std::size_t>(block_layers_);
  const std::size_t last_block_start = (layers_.size() - 1) / Lr * Lr;
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const std::size_t j = l % Lr;
    TensorViews conn = shared_[j].tensors();
    for (const auto& [name, t] : shared_.back().tensors()) conn[name] = t;
    conn["y"] = saved_["y." + std::to_string(l)];
    if (j == 0) conn["x"] = saved_["x_block." + std::to_string(l / Lr)];
    // The backward starts in the last block, so its layers keep x from the forward and it is not rebuilt.
    contexts_.push_back(
        layers_[l].make_context_sharing(batch, conn, shared_[Lr + j].tensors(), j == 0 || l >= last_block_start));
  }
}

std::int64_t Model::resolve_block_layers(const config::Config& cfg) {
  return resolve_block_layers(cfg, StagePart::whole(cfg));
}

std::int64_t Model::resolve_block_layers(const config::Config& cfg, const StagePart& part) {
  const std::int64_t L = std::max<std::int64_t>(part.layers(), 1), n = cfg.residual.n_streams;
  if (cfg.recompute.block_layers == "stage") return L;
  if (cfg.recompute.block_layers == "auto") {
    const auto k = static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(n * L) / (n + 2.0))));
    return std::clamp<std::int64_t>(k, 1, L);
  }
  return std::min(cfg.recompute.block_layers_value(), L);
}

std::int64_t Model::predicted_activation_bytes(const config::Config& cfg, DType dtype, std::int64_t batch,
                                               bool recompute) {
  return predicted_activation_bytes(cfg, dtype, batch, recompute, StagePart::whole(cfg));
}

std::int64_t Model::predicted_activation_bytes(const config::Config& cfg, DType dtype, std::int64_t batch,
                                               bool recompute, const StagePart& part) {
  const std::int64_t L = part.layers();
  const auto attn = attention_activation_specs(cfg, dtype, batch), mlp = mlp_activation_specs(cfg, dtype, batch);
  const std::int64_t buffers = Arena::bytes_needed(buffer_specs(cfg, dtype, batch, part));
  config::Config c = cfg;
  c.recompute.mhc = recompute;
  if (!recompute_on(c) || L == 0)
    return buffers + L / 2 * (Arena::bytes_needed(attn) + Arena::bytes_needed(mlp)) +
           L * Arena::bytes_needed(cfg.residual.type->activation_specs(cfg, dtype, batch));
  // F's input entries live in the shared tables.
  const std::vector<std::string>& input = Sublayer::input_entries();
  std::int64_t total =
      buffers + L / 2 * (Arena::bytes_needed(specs_without(attn, input)) + Arena::bytes_needed(specs_without(mlp, input)));
  const std::int64_t block_layers = resolve_block_layers(cfg, part);
  for (const auto& table : shared_tables(cfg, dtype, batch, block_layers)) total += Arena::bytes_needed(table.second);
  return total + Arena::bytes_needed(saved_specs(cfg, dtype, batch, L, block_layers));
}

void Model::check_part(bool embedding, bool head, const char* call) const {
  MHC_CHECK((!embedding || part_.embedding) && (!head || part_.head), ConfigError, call, ": this stage (layers [",
            part_.first_layer, ", ", part_.end_layer, ")) has no ", embedding ? "embedding" : "head");
}

Tensor Model::saved_input_slot(std::size_t l) const {
  if (l >= contexts_.size() || !contexts_[l].saves_input || !cfg_.residual.type->keeps_streams())
    return Tensor();
  return contexts_[l].connection["x"];
}

Tensor Model::stream_input() {
  MHC_CHECK(!part_.embedding, ConfigError, "stream_input: the first stage starts from token ids");
  const Tensor slot = saved_input_slot(0);
  return slot.defined() ? slot : buffers_["x_a"];
}

void Model::forward_stage(const std::int32_t* inputs) {
  // Each x_l goes straight where layer l keeps it when it does (no copy); the others ping-pong between x_a and x_b.
  const Tensor x_a = buffers_["x_a"], x_b = buffers_["x_b"];
  const Tensor first = saved_input_slot(0);
  Tensor x = first.defined() ? first : x_a;
  if (part_.embedding) {
    MHC_CHECK(inputs != nullptr, ConfigError, "forward_stage: the first stage needs token ids");
    Tensor ids = buffers_["ids"];
    upload_ids(ids, inputs);
    ops::embedding_forward(buffers_["h"], ids, store_->param("embed.weight"));
    // Expansion x_0 = (h, ..., h): the backward of the stream sum writes dy to every stream.
    ops::stream_sum_backward(x, buffers_["h"]);
  }
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const Tensor slot = saved_input_slot(l + 1);
    const Tensor x_next = slot.defined() ? slot : (x.data == x_a.data ? x_b : x_a);
    layers_[l].forward(contexts_[l], x, x_next);
    x = x_next;
  }
  // With recompute the last block's layers kept their state (x included): the backward starts there.
  resident_block_ = block_count(static_cast<std::int64_t>(layers_.size()), block_layers_) - 1;
  x_final_ = x;
  if (!part_.head) return;
  Tensor y = buffers_["y"];
  if (cfg_.residual.head_merge == config::HeadMerge::gate) {
    ops::head_merge_gate_forward(y, buffers_["gate_w"], buffers_["gate_proj"], buffers_["gate_rstd"], x,
                                 store_->param("head_merge.phi"), store_->param("head_merge.alpha"),
                                 store_->param("head_merge.bias"));
  } else {
    ops::stream_sum_forward(y, x);
  }
  ops::rmsnorm_forward(buffers_["y_norm"], buffers_["norm_rstd"], y, store_->param("final_norm.weight"), kNormEps);
  const char* head = cfg_.model.tie_embeddings ? "embed.weight" : "lm_head.weight";
  ops::linear_forward(buffers_["logits"], buffers_["y_norm"], store_->param(head));
}

Tensor Model::stream_output() const {
  MHC_CHECK(!part_.head, ConfigError, "stream_output: the last stage ends in the loss");
  return x_final_;
}

double Model::head_loss(const std::int32_t* targets, double loss_weight) {
  check_part(false, true, "head_loss");
  const std::int64_t N = batch_ * seq_len_;
  Tensor t = buffers_["targets"];
  upload_ids(t, targets);
  Tensor logits = buffers_["logits"], lse = buffers_["lse"], losses = buffers_["losses"];
  ops::softmax_xent_forward(losses, lse, logits, t);
  const double loss = mean_of(losses);
  if (loss_weight != 0.0)
    ops::softmax_xent_backward(logits, logits, lse, t, loss_weight / static_cast<double>(N));  // dlogits in place
  return loss;
}

Tensor Model::grad_output() {
  // Stream gradients ping-pong between the stream buffer not holding x_L and x_L's own buffer (x_L is no longer
  // needed then: every layer saved what its backward reads).
  return x_final_.data == buffers_["x_a"].data ? buffers_["x_b"] : buffers_["x_a"];
}

void Model::head_backward() {
  const char* head = cfg_.model.tie_embeddings ? "embed.weight" : "lm_head.weight";
  Tensor dlogits = buffers_["logits"], y_norm = buffers_["y_norm"], dy_norm = buffers_["dy_norm"];
  ops::linear_backward_input(dy_norm, dlogits, store_->param(head));
  ops::linear_backward_weight(store_->grad(head), dlogits, y_norm);
  Tensor y = buffers_["y"], dy = buffers_["dy"];
  ops::rmsnorm_backward_input(dy, dy_norm, y, store_->param("final_norm.weight"), buffers_["norm_rstd"]);
  ops::rmsnorm_backward_weight(store_->grad("final_norm.weight"), dy_norm, y, buffers_["norm_rstd"]);
  Tensor dx = grad_output();
  if (cfg_.residual.head_merge == config::HeadMerge::gate) {
    ops::head_merge_gate_backward_input(dx, buffers_["gate_dlogit"], dy, x_final_, store_->param("head_merge.phi"),
                                        store_->param("head_merge.alpha"), buffers_["gate_w"], buffers_["gate_proj"],
                                        buffers_["gate_rstd"]);
    ops::head_merge_gate_backward_weight(store_->grad("head_merge.phi"), store_->grad("head_merge.alpha"),
                                         store_->grad("head_merge.bias"), buffers_["gate_dlogit"], x_final_,
                                         buffers_["gate_proj"], buffers_["gate_rstd"],
                                         store_->param("head_merge.alpha"));
  } else {
    ops::stream_sum_backward(dx, dy);
  }
}

void Model::backward_input_stage() {
  if (part_.head) head_backward();
  Tensor dx = grad_output();
  Tensor dx_prev = x_final_;
  // With recompute, a block's connection state is rebuilt when the backward enters it (its last layer). The shared
  // contexts are reused by the next block's rebuild, so the W of every block but the stage's first runs before it.
  const auto Lr = static_cast<std::size_t>(block_layers_);
  for (std::size_t k = layers_.size(); k-- > 0;) {
    if (recompute_ && (k % Lr == Lr - 1 || k + 1 == layers_.size())) {
      for (std::size_t j = k + 1; j < layers_.size() && w_pending_[j]; ++j) {
        layers_[j].backward_weight(contexts_[j]);
        w_pending_[j] = false;
      }
      recompute_block(static_cast<std::int64_t>(k / Lr));
    }
    layers_[k].backward_input(contexts_[k], dx, dx_prev);
    w_pending_[k] = true;
    std::swap(dx, dx_prev);
  }
  dx_in_ = dx;  // dL/dx_0 of the stage
  // The expansion's backward sums the streams.
  if (part_.embedding) ops::stream_sum_forward(buffers_["dh"], dx);
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
    ops::embedding_backward_weight(store_->grad("embed.weight"), buffers_["dh"], buffers_["ids"]);
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
  return buffers_["logits"];
}

void Model::recompute_block(std::int64_t b) {
  if (b == resident_block_) return;
  const std::int64_t first = b * block_layers_;
  const std::int64_t end = std::min(first + block_layers_, static_cast<std::int64_t>(layers_.size()));
  for (std::int64_t l = first; l < end; ++l) {
    // x_l is in layer l's context already (the stored block input, or written there by layer l - 1); x_out is
    // x_in of layer l + 1, written straight into that layer's context; the block's last x_out is not needed.
    const Tensor x_out = l + 1 < end ? contexts_[static_cast<std::size_t>(l + 1)].connection["x"] : Tensor();
    layers_[static_cast<std::size_t>(l)].forward_from_f_output(contexts_[static_cast<std::size_t>(l)],
                                                               contexts_[static_cast<std::size_t>(l)].connection["x"],
                                                               x_out);
  }
  resident_block_ = b;
}

std::vector<Tensor> Model::layer_inputs(std::int64_t block) {
  MHC_CHECK(cfg_.residual.type->keeps_streams(), ConfigError, "layer_inputs: residual.type \"",
            std::string(cfg_.residual.type->name()), "\" keeps no stream state x_l");
  const std::int64_t L = static_cast<std::int64_t>(layers_.size());
  MHC_CHECK(block >= 0 && block < block_count(L, block_layers_), ShapeError, "layer_inputs: block ", block,
            " out of range [0, ", block_count(L, block_layers_), ")");
  if (recompute_) recompute_block(block);
  std::vector<Tensor> x;
  for (std::int64_t l = block * block_layers_; l < std::min(L, (block + 1) * block_layers_); ++l)
    x.push_back(contexts_[static_cast<std::size_t>(l)].connection["x"]);
  return x;
}

std::vector<Tensor> Model::last_h_res() {
  std::vector<Tensor> h;
  if (!cfg_.residual.type->keeps_streams()) return h;
  if (!recompute_) {
    for (const auto& ctx : contexts_) h.push_back(ctx.connection["h_res"]);
    return h;
  }
  h_res_copies_.clear();
  const std::int64_t L = static_cast<std::int64_t>(layers_.size());
  for (std::int64_t b = 0; b < block_count(L, block_layers_); ++b) {
    layer_inputs(b);
    for (std::int64_t l = b * block_layers_; l < std::min(L, (b + 1) * block_layers_); ++l) {
      const Tensor src = contexts_[static_cast<std::size_t>(l)].connection["h_res"];
      h_res_copies_.emplace_back(src.dtype, src.shape);
      copy_tensor(h_res_copies_.back().view(), src);
    }
  }
  for (auto& t : h_res_copies_) h.push_back(t.view());
  return h;
}

std::int64_t Model::activation_bytes() const {
  std::int64_t total = buffers_.bytes_held() + saved_.bytes_held();
  for (const auto& ctx : shared_) total += ctx.bytes_held();
  for (const auto& ctx : contexts_) total += ctx.bytes_held();
  return total;
}

}  // namespace mhc::model
