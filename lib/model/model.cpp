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

std::vector<TensorSpec> buffer_specs(const config::Config& cfg, DType t, std::int64_t batch) {
  const std::int64_t N = batch * cfg.model.seq_len, C = cfg.model.d_model, V = cfg.model.vocab_size;
  const std::int64_t n = cfg.residual.n_streams;
  std::vector<TensorSpec> s{
      {"ids", DType::i32, Shape{N}},      {"targets", DType::i32, Shape{N}},  {"h", t, Shape{N, C}},
      {"x_a", t, Shape{N, n, C}},         {"x_b", t, Shape{N, n, C}},         {"y", t, Shape{N, C}},
      {"y_norm", t, Shape{N, C}},         {"norm_rstd", t, Shape{N}},         {"logits", t, Shape{N, V}},
      {"lse", t, Shape{N}},               {"losses", t, Shape{N}},            {"dy_norm", t, Shape{N, C}},
      {"dy", t, Shape{N, C}},             {"dh", t, Shape{N, C}},
  };
  if (cfg.residual.head_merge == config::HeadMerge::gate) {
    for (const char* name : {"gate_w", "gate_proj", "gate_dlogit"}) s.push_back({name, t, Shape{N, n}});
    s.push_back({"gate_rstd", t, Shape{N}});
  }
  return s;
}

bool recompute_on(const config::Config& cfg) {
  return cfg.recompute.mhc && cfg.residual.type != config::ResidualType::residual;
}

std::int64_t layer_count(const config::Config& cfg) { return 2 * cfg.model.n_blocks; }

std::int64_t block_count(std::int64_t layers, std::int64_t block_layers) {
  return (layers + block_layers - 1) / block_layers;
}

// The recompute store: every block's input stream state and every layer's F output.
std::vector<TensorSpec> saved_specs(const config::Config& cfg, DType t, std::int64_t batch, std::int64_t block_layers) {
  const std::int64_t N = batch * cfg.model.seq_len, C = cfg.model.d_model, n = cfg.residual.n_streams;
  const std::int64_t L = layer_count(cfg);
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
  const std::vector<TensorSpec> conn = connection_activation_specs(cfg, t, batch);
  const std::vector<std::string> transient = connection_transient_entries(cfg);
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

double mean_of(Tensor losses) {
  double sum = 0;
  const std::int64_t N = losses.numel();
  for (std::int64_t k = 0; k < N; ++k)
    sum += losses.dtype == DType::f64 ? losses.ptr<double>()[k] : static_cast<double>(losses.ptr<float>()[k]);
  return sum / static_cast<double>(N);
}

}  // namespace

Model::Model(const config::Config& cfg, DType dtype, std::uint64_t seed, std::int64_t batch)
    : cfg_(cfg),
      batch_(batch),
      seq_len_(cfg.model.seq_len),
      n_(cfg.residual.n_streams),
      store_(model_parameter_specs(cfg), cfg, dtype, seed),
      recompute_(recompute_on(cfg)),
      block_layers_(resolve_block_layers(cfg)),
      buffers_("model buffers", buffer_specs(cfg, dtype, batch)) {
  MHC_CHECK(batch >= 1, ConfigError, "micro-batch size must be >= 1, got ", batch);
  for (std::int64_t b = 0; b < cfg.model.n_blocks; ++b) {
    layers_.emplace_back(cfg, store_, b, SublayerKind::attention);
    layers_.emplace_back(cfg, store_, b, SublayerKind::mlp);
  }
  if (!recompute_) {
    for (const auto& layer : layers_) contexts_.push_back(layer.make_context(batch));
    return;
  }
  // Every connection of a model has the same layout, so block position j of every block shares one connection
  // state and one F input; every layer shares the transient buffers; y and the block input x live in the store.
  for (const auto& [name, specs] : shared_tables(cfg, dtype, batch, block_layers_)) shared_.emplace_back(name, specs);
  saved_ = ActivationContext("recompute store", saved_specs(cfg, dtype, batch, block_layers_));
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
  const std::int64_t L = layer_count(cfg), n = cfg.residual.n_streams;
  if (cfg.recompute.block_layers == "stage") return L;
  if (cfg.recompute.block_layers == "auto") {
    const auto k = static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(n * L) / (n + 2.0))));
    return std::clamp<std::int64_t>(k, 1, L);
  }
  return std::min(cfg.recompute.block_layers_value(), L);
}

std::int64_t Model::predicted_activation_bytes(const config::Config& cfg, DType dtype, std::int64_t batch,
                                               bool recompute) {
  const std::int64_t L = layer_count(cfg);
  const auto attn = attention_activation_specs(cfg, dtype, batch), mlp = mlp_activation_specs(cfg, dtype, batch);
  const std::int64_t buffers = Arena::bytes_needed(buffer_specs(cfg, dtype, batch));
  config::Config c = cfg;
  c.recompute.mhc = recompute;
  if (!recompute_on(c))
    return buffers + cfg.model.n_blocks * (Arena::bytes_needed(attn) + Arena::bytes_needed(mlp)) +
           L * Arena::bytes_needed(connection_activation_specs(cfg, dtype, batch));
  // F's input entries live in the shared tables.
  const std::vector<std::string>& input = Sublayer::input_entries();
  std::int64_t total = buffers + cfg.model.n_blocks * (Arena::bytes_needed(specs_without(attn, input)) +
                                                       Arena::bytes_needed(specs_without(mlp, input)));
  const std::int64_t block_layers = resolve_block_layers(cfg);
  for (const auto& table : shared_tables(cfg, dtype, batch, block_layers)) total += Arena::bytes_needed(table.second);
  return total + Arena::bytes_needed(saved_specs(cfg, dtype, batch, block_layers));
}

void Model::forward(const std::int32_t* inputs) {
  const std::int64_t N = batch_ * seq_len_;
  Tensor ids = buffers_["ids"];
  std::copy(inputs, inputs + N, ids.ptr<std::int32_t>());
  ops::embedding_forward(buffers_["h"], ids, store_.param("embed.weight"));
  // Expansion x_0 = (h, ..., h): the backward of the stream sum writes dy to every stream.
  Tensor x = buffers_["x_a"], x_next = buffers_["x_b"];
  ops::stream_sum_backward(x, buffers_["h"]);
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    layers_[l].forward(contexts_[l], x, x_next);
    std::swap(x, x_next);
  }
  // With recompute the last block's layers kept their state (x included): the backward starts there.
  resident_block_ = block_count(static_cast<std::int64_t>(layers_.size()), block_layers_) - 1;
  x_final_ = x;
  Tensor y = buffers_["y"];
  if (cfg_.residual.head_merge == config::HeadMerge::gate) {
    ops::head_merge_gate_forward(y, buffers_["gate_w"], buffers_["gate_proj"], buffers_["gate_rstd"], x,
                                 store_.param("head_merge.phi"), store_.param("head_merge.alpha"),
                                 store_.param("head_merge.bias"));
  } else {
    ops::stream_sum_forward(y, x);
  }
  ops::rmsnorm_forward(buffers_["y_norm"], buffers_["norm_rstd"], y, store_.param("final_norm.weight"), kNormEps);
  const char* head = cfg_.model.tie_embeddings ? "embed.weight" : "lm_head.weight";
  ops::linear_forward(buffers_["logits"], buffers_["y_norm"], store_.param(head));
}

void Model::backward() {
  const char* head = cfg_.model.tie_embeddings ? "embed.weight" : "lm_head.weight";
  Tensor dlogits = buffers_["logits"], y_norm = buffers_["y_norm"], dy_norm = buffers_["dy_norm"];
  ops::linear_backward_input(dy_norm, dlogits, store_.param(head));
  ops::linear_backward_weight(store_.grad(head), dlogits, y_norm);
  Tensor y = buffers_["y"], dy = buffers_["dy"];
  ops::rmsnorm_backward_input(dy, dy_norm, y, store_.param("final_norm.weight"), buffers_["norm_rstd"]);
  ops::rmsnorm_backward_weight(store_.grad("final_norm.weight"), dy_norm, y, buffers_["norm_rstd"]);

  // Stream gradients ping-pong between the two stream buffers not holding x_L's gradient input.
  Tensor dx = x_final_.data == buffers_["x_a"].data ? buffers_["x_b"] : buffers_["x_a"];
  Tensor dx_prev = x_final_;  // x_L itself is no longer needed: every layer saved what its backward reads
  if (cfg_.residual.head_merge == config::HeadMerge::gate) {
    ops::head_merge_gate_backward_input(dx, buffers_["gate_dlogit"], dy, x_final_, store_.param("head_merge.phi"),
                                        store_.param("head_merge.alpha"), buffers_["gate_w"], buffers_["gate_proj"],
                                        buffers_["gate_rstd"]);
    ops::head_merge_gate_backward_weight(store_.grad("head_merge.phi"), store_.grad("head_merge.alpha"),
                                         store_.grad("head_merge.bias"), buffers_["gate_dlogit"], x_final_,
                                         buffers_["gate_proj"], buffers_["gate_rstd"], store_.param("head_merge.alpha"));
  } else {
    ops::stream_sum_backward(dx, dy);
  }
  // With recompute, a block's connection state is rebuilt when the backward enters it (its last layer). Each
  // layer's W runs right after its B; W of a block may also wait until the block's B are all done, but must run
  // before the next block's recompute reuses the shared contexts.
  const auto Lr = static_cast<std::size_t>(block_layers_);
  for (std::size_t k = layers_.size(); k-- > 0;) {
    if (recompute_ && (k % Lr == Lr - 1 || k + 1 == layers_.size()))
      recompute_block(static_cast<std::int64_t>(k / Lr));
    layers_[k].backward_input(contexts_[k], dx, dx_prev);
    layers_[k].backward_weight(contexts_[k]);
    std::swap(dx, dx_prev);
  }
  // dx holds dL/dx_0; the expansion's backward sums the streams.
  Tensor dh = buffers_["dh"];
  ops::stream_sum_forward(dh, dx);
  ops::embedding_backward_weight(store_.grad("embed.weight"), dh, buffers_["ids"]);
}

double Model::forward_backward(Tensor tokens, double loss_weight) {
  const std::int64_t N = batch_ * seq_len_;
  expect_shape(tokens, Shape{batch_, seq_len_ + 1}, "tokens");
  expect_dtype(tokens, DType::i32, "tokens");
  std::vector<std::int32_t> inputs(static_cast<std::size_t>(N));
  std::int32_t* targets = buffers_["targets"].ptr<std::int32_t>();
  const std::int32_t* rows = tokens.ptr<std::int32_t>();
  for (std::int64_t b = 0; b < batch_; ++b)
    for (std::int64_t t = 0; t < seq_len_; ++t) {
      inputs[static_cast<std::size_t>(b * seq_len_ + t)] = rows[b * (seq_len_ + 1) + t];
      targets[b * seq_len_ + t] = rows[b * (seq_len_ + 1) + t + 1];
    }
  forward(inputs.data());
  Tensor logits = buffers_["logits"], lse = buffers_["lse"], losses = buffers_["losses"];
  ops::softmax_xent_forward(losses, lse, logits, buffers_["targets"]);
  const double loss = mean_of(losses);
  if (loss_weight != 0.0) {
    ops::softmax_xent_backward(logits, logits, lse, buffers_["targets"], loss_weight / static_cast<double>(N));
    backward();
  }
  return loss;
}

double Model::forward_loss(Tensor tokens) { return forward_backward(tokens, 0.0); }

Tensor Model::forward_logits(Tensor inputs) {
  expect_shape(inputs, Shape{batch_, seq_len_}, "inputs");
  expect_dtype(inputs, DType::i32, "inputs");
  forward(inputs.ptr<std::int32_t>());
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
  MHC_CHECK(cfg_.residual.type != config::ResidualType::residual, ConfigError,
            "layer_inputs: residual.type \"residual\" keeps no stream state x_l");
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
  if (cfg_.residual.type == config::ResidualType::residual) return h;
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
