// The whole model: embedding -> expand -> residual layers -> merge -> final RMSNorm -> LM head -> cross-entropy.
#include "model/model.hpp"

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
      buffers_("model buffers", buffer_specs(cfg, dtype, batch)) {
  MHC_CHECK(batch >= 1, ConfigError, "micro-batch size must be >= 1, got ", batch);
  for (std::int64_t b = 0; b < cfg.model.n_blocks; ++b) {
    layers_.emplace_back(cfg, store_, b, SublayerKind::attention);
    layers_.emplace_back(cfg, store_, b, SublayerKind::mlp);
  }
  for (const auto& layer : layers_) contexts_.push_back(layer.make_context(batch));
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
  for (std::size_t k = layers_.size(); k-- > 0;) {
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

std::vector<Tensor> Model::last_h_res() const {
  std::vector<Tensor> h;
  if (cfg_.residual.type == config::ResidualType::residual) return h;
  for (const auto& ctx : contexts_) h.push_back(ctx.connection["h_res"]);
  return h;
}

std::int64_t Model::activation_bytes() const {
  std::int64_t total = buffers_.bytes_held();
  for (const auto& ctx : contexts_) total += ctx.bytes_held();
  return total;
}

}  // namespace mhc::model
