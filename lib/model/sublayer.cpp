// The attention and MLP sublayers: forward saving into an activation context, backward split into B and W.
#include "model/sublayer.hpp"

#include "core/copy.hpp"
#include "ops/attention.hpp"
#include "ops/matmul.hpp"
#include "ops/rmsnorm.hpp"
#include "ops/rope.hpp"
#include "ops/swiglu.hpp"

namespace mhc::model {

namespace {

// Saved: u, xn = RMSNorm(u), rstd, q and k after RoPE, v, the attention output o, lse.
// Backward buffers: dy (kept for dWo), dq/dk/dv (before RoPE, kept for dWq/dWk/dWv), dxn (kept for the norm weight),
// do (transient).
std::vector<TensorSpec> attention_specs(std::int64_t batch, std::int64_t T, std::int64_t C, std::int64_t heads,
                                        DType t) {
  const std::int64_t N = batch * T;
  std::vector<TensorSpec> specs;
  for (const char* name : {"u", "xn", "q", "k", "v", "o", "dy", "dq", "dk", "dv", "dxn", "do"})
    specs.push_back({name, t, Shape{N, C}});
  specs.push_back({"rstd", t, Shape{N}});
  specs.push_back({"lse", t, Shape{batch, heads, T}});
  return specs;
}

// Saved: u, xn = RMSNorm(u), rstd, gate and up projections, h = swiglu(gate, up).
// Backward buffers: dy (kept for dWdown), dgate/dup (kept for dWgate/dWup), dxn (kept for the norm weight).
// dgate first holds dh = dy Wdown (swiglu_backward may overwrite its dout).
std::vector<TensorSpec> mlp_specs(std::int64_t N, std::int64_t C, std::int64_t F, DType t) {
  std::vector<TensorSpec> specs;
  for (const char* name : {"u", "xn", "dy", "dxn"}) specs.push_back({name, t, Shape{N, C}});
  for (const char* name : {"gate", "up", "h", "dgate", "dup"}) specs.push_back({name, t, Shape{N, F}});
  specs.push_back({"rstd", t, Shape{N}});
  return specs;
}

}  // namespace

std::vector<TensorSpec> attention_activation_specs(const config::Config& cfg, DType dtype, std::int64_t batch) {
  return attention_specs(batch, cfg.model.seq_len, cfg.model.d_model, cfg.model.n_heads, dtype);
}

std::vector<TensorSpec> mlp_activation_specs(const config::Config& cfg, DType dtype, std::int64_t batch) {
  return mlp_specs(batch * cfg.model.seq_len, cfg.model.d_model, cfg.model.ffn_hidden, dtype);
}

Sublayer::Sublayer(const config::Config& cfg, const ParameterStore& store, std::string prefix)
    : store_(store),
      prefix_(std::move(prefix)),
      dtype_(store.dtype()),
      seq_len_(cfg.model.seq_len),
      d_model_(cfg.model.d_model) {}

ActivationContext Sublayer::make_context(std::int64_t batch) const {
  return ActivationContext(prefix_, activation_specs(batch), {}, store_.device());
}

const std::vector<std::string>& Sublayer::input_entries() {
  static const std::vector<std::string> names{"u", "xn", "rstd"};
  return names;
}

void Sublayer::normalise_input(const ActivationContext& ctx, Tensor u) const {
  if (u.data != ctx["u"].data) copy_tensor(ctx["u"], u);
  rebuild_input(ctx);
}

void Sublayer::rebuild_input(const ActivationContext& ctx) const {
  ops::rmsnorm_forward(ctx["xn"], ctx["rstd"], ctx["u"], param("norm.weight"), kNormEps);
}

void Sublayer::keep_output_grad(const ActivationContext& ctx, Tensor dy) {
  if (dy.data != ctx["dy"].data) copy_tensor(ctx["dy"], dy);
}

void Sublayer::check_like(const ActivationContext& ctx, const std::string& like, Tensor t, const char* what) const {
  const Tensor ref = ctx[like];
  expect_shape(t, ref.shape, what);
  expect_dtype(t, ref.dtype, what);
}

// ---- attention -------------------------------------------------------------------------------------------------

AttentionSublayer::AttentionSublayer(const config::Config& cfg, const ParameterStore& store, const std::string& prefix)
    : Sublayer(cfg, store, prefix), n_heads_(cfg.model.n_heads), rope_theta_(cfg.model.rope_theta) {
  MHC_CHECK(n_heads_ > 0 && d_model_ % n_heads_ == 0 && (d_model_ / n_heads_) % 2 == 0, ConfigError,
            "attention ", prefix, ": d_model ", d_model_, " must split into ", n_heads_, " heads of even size");
}

std::vector<TensorSpec> AttentionSublayer::activation_specs(std::int64_t batch) const {
  return attention_specs(batch, seq_len_, d_model_, n_heads_, dtype_);
}

void AttentionSublayer::forward(const ActivationContext& ctx, Tensor u, Tensor y) {
  check_like(ctx, "u", u, "attention forward u");
  check_like(ctx, "u", y, "attention forward y");
  const std::int64_t N = u.dim(0), B = N / seq_len_, H = n_heads_, D = d_model_ / n_heads_;
  const Shape heads{B, seq_len_, H, D};
  normalise_input(ctx, u);
  ops::linear_forward(ctx["q"], ctx["xn"], param("wq"));
  ops::linear_forward(ctx["k"], ctx["xn"], param("wk"));
  ops::linear_forward(ctx["v"], ctx["xn"], param("wv"));
  const Tensor q = ctx["q"].reshape(heads), k = ctx["k"].reshape(heads);
  ops::rope_forward(q, q, rope_theta_);
  ops::rope_forward(k, k, rope_theta_);
  ops::attention_forward(ctx["o"].reshape(heads), ctx["lse"], q, k, ctx["v"].reshape(heads));
  ops::linear_forward(y, ctx["o"], param("wo"));
}

void AttentionSublayer::backward_input(const ActivationContext& ctx, Tensor dy, Tensor du) {
  check_like(ctx, "u", dy, "attention backward dy");
  check_like(ctx, "u", du, "attention backward du");
  const std::int64_t N = dy.dim(0), B = N / seq_len_, H = n_heads_, D = d_model_ / n_heads_;
  const Shape heads{B, seq_len_, H, D};
  keep_output_grad(ctx, dy);
  ops::linear_backward_input(ctx["do"], dy, param("wo"));
  const Tensor dq = ctx["dq"].reshape(heads), dk = ctx["dk"].reshape(heads);
  ops::attention_backward(dq, dk, ctx["dv"].reshape(heads), ctx["do"].reshape(heads), ctx["q"].reshape(heads),
                          ctx["k"].reshape(heads), ctx["v"].reshape(heads), ctx["o"].reshape(heads), ctx["lse"]);
  ops::rope_backward(dq, dq, rope_theta_);
  ops::rope_backward(dk, dk, rope_theta_);
  ops::linear_backward_input(ctx["dxn"], ctx["dq"], param("wq"));
  ops::linear_backward_input(ctx["dxn"], ctx["dk"], param("wk"), /*accumulate=*/true);
  ops::linear_backward_input(ctx["dxn"], ctx["dv"], param("wv"), /*accumulate=*/true);
  ops::rmsnorm_backward_input(du, ctx["dxn"], ctx["u"], param("norm.weight"), ctx["rstd"]);
}

void AttentionSublayer::backward_weight(const ActivationContext& ctx) {
  ops::linear_backward_weight(grad("wo"), ctx["dy"], ctx["o"]);
  ops::linear_backward_weight(grad("wq"), ctx["dq"], ctx["xn"]);
  ops::linear_backward_weight(grad("wk"), ctx["dk"], ctx["xn"]);
  ops::linear_backward_weight(grad("wv"), ctx["dv"], ctx["xn"]);
  ops::rmsnorm_backward_weight(grad("norm.weight"), ctx["dxn"], ctx["u"], ctx["rstd"]);
}

// ---- MLP -------------------------------------------------------------------------------------------------------

MlpSublayer::MlpSublayer(const config::Config& cfg, const ParameterStore& store, const std::string& prefix)
    : Sublayer(cfg, store, prefix), ffn_hidden_(cfg.model.ffn_hidden) {}

std::vector<TensorSpec> MlpSublayer::activation_specs(std::int64_t batch) const {
  return mlp_specs(batch * seq_len_, d_model_, ffn_hidden_, dtype_);
}

void MlpSublayer::forward(const ActivationContext& ctx, Tensor u, Tensor y) {
  check_like(ctx, "u", u, "mlp forward u");
  check_like(ctx, "u", y, "mlp forward y");
  normalise_input(ctx, u);
  ops::linear_forward(ctx["gate"], ctx["xn"], param("w_gate"));
  ops::linear_forward(ctx["up"], ctx["xn"], param("w_up"));
  ops::swiglu_forward(ctx["h"], ctx["gate"], ctx["up"]);
  ops::linear_forward(y, ctx["h"], param("w_down"));
}

void MlpSublayer::backward_input(const ActivationContext& ctx, Tensor dy, Tensor du) {
  check_like(ctx, "u", dy, "mlp backward dy");
  check_like(ctx, "u", du, "mlp backward du");
  keep_output_grad(ctx, dy);
  ops::linear_backward_input(ctx["dgate"], dy, param("w_down"));  // dh
  ops::swiglu_backward(ctx["dgate"], ctx["dup"], ctx["dgate"], ctx["gate"], ctx["up"]);
  ops::linear_backward_input(ctx["dxn"], ctx["dgate"], param("w_gate"));
  ops::linear_backward_input(ctx["dxn"], ctx["dup"], param("w_up"), /*accumulate=*/true);
  ops::rmsnorm_backward_input(du, ctx["dxn"], ctx["u"], param("norm.weight"), ctx["rstd"]);
}

void MlpSublayer::backward_weight(const ActivationContext& ctx) {
  ops::linear_backward_weight(grad("w_down"), ctx["dy"], ctx["h"]);
  ops::linear_backward_weight(grad("w_gate"), ctx["dgate"], ctx["xn"]);
  ops::linear_backward_weight(grad("w_up"), ctx["dup"], ctx["xn"]);
  ops::rmsnorm_backward_weight(grad("norm.weight"), ctx["dxn"], ctx["u"], ctx["rstd"]);
}

}  // namespace mhc::model
