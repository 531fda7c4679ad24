// The attention and MLP sublayers: forward saving into an activation context, backward split into B and W.
#include "model/sublayer.hpp"

#include "core/copy.hpp"
#include "ops/attention.hpp"
#include "ops/elementwise.hpp"
#include "ops/matmul.hpp"
#include "ops/rmsnorm.hpp"
#include "ops/rope.hpp"
#include "ops/swiglu.hpp"

namespace mhc::model {

namespace {

// u, xn, rstd (F's input entries) and dy, for N rows of width C, as entries of S's table. t is the model's dtype,
// lo the dtype of the matmul operands (bf16 under train.precision "bf16", else t; docs/math.md "Mixed precision"):
// u (the connection's output) and the statistics stay t.
template <class S>
StateTable<S> sublayer_table(std::int64_t N, std::int64_t C, DType t, DType lo) {
  const StateTable<SublayerState> base{{"u", &SublayerState::u, t, Shape{N, C}, EntryRole::input},
                                       {"xn", &SublayerState::xn, lo, Shape{N, C}, EntryRole::input},
                                       {"rstd", &SublayerState::rstd, t, Shape{N}, EntryRole::input},
                                       {"dy", &SublayerState::dy, lo, Shape{N, C}}};
  return extend_table<S>(base);
}

// dxn sums three products (q, k, v) and feeds the norm's backward: t. lse: a softmax statistic, t.
StateTable<AttentionState> attention_table(std::int64_t batch, std::int64_t T, std::int64_t C, std::int64_t heads,
                                           DType t, DType lo) {
  using S = AttentionState;
  const std::int64_t N = batch * T;
  StateTable<S> table = sublayer_table<S>(N, C, t, lo);
  for (const auto& [name, member] : {std::pair{"q", &S::q}, {"k", &S::k}, {"v", &S::v}, {"o", &S::o}, {"dq", &S::dq},
                                     {"dk", &S::dk}, {"dv", &S::dv}, {"do", &S::d_o}})
    table.push_back({name, member, lo, Shape{N, C}});
  table.push_back({"dxn", &S::dxn, t, Shape{N, C}});
  table.push_back({"lse", &S::lse, t, Shape{batch, heads, T}});
  return table;
}

StateTable<MlpState> mlp_table(std::int64_t N, std::int64_t C, std::int64_t F, DType t, DType lo) {
  using S = MlpState;
  StateTable<S> table = sublayer_table<S>(N, C, t, lo);
  table.push_back({"dxn", &S::dxn, t, Shape{N, C}});
  for (const auto& [name, member] :
       {std::pair{"gate", &S::gate}, {"up", &S::up}, {"h", &S::h}, {"dgate", &S::dgate}, {"dup", &S::dup}})
    table.push_back({name, member, lo, Shape{N, F}});
  return table;
}

ParamTable<AttentionParams> attention_params(const config::Config& cfg) {
  using P = AttentionParams;
  const std::int64_t C = cfg.model.d_model;
  const auto proj = [&](const char* leaf, Param P::*member, double init_std) {
    return ParamField<P>{leaf, member, Shape{C, C}, Component::attention, InitKind::normal, init_std, true};
  };
  return {{"norm.weight", &P::norm, Shape{C}, Component::norm, InitKind::ones, 0.0, false},
          proj("wq", &P::wq, kInitStd), proj("wk", &P::wk, kInitStd), proj("wv", &P::wv, kInitStd),
          proj("wo", &P::wo, output_init_std(cfg))};
}

ParamTable<MlpParams> mlp_params(const config::Config& cfg) {
  using P = MlpParams;
  const std::int64_t C = cfg.model.d_model, F = cfg.model.ffn_hidden;
  return {{"norm.weight", &P::norm, Shape{C}, Component::norm, InitKind::ones, 0.0, false},
          {"w_gate", &P::w_gate, Shape{F, C}, Component::mlp, InitKind::normal, kInitStd, true},
          {"w_up", &P::w_up, Shape{F, C}, Component::mlp, InitKind::normal, kInitStd, true},
          {"w_down", &P::w_down, Shape{C, F}, Component::mlp, InitKind::normal, output_init_std(cfg), true}};
}

}  // namespace

std::vector<TensorSpec> attention_activation_specs(const config::Config& cfg, DType dtype, std::int64_t batch) {
  return specs_of(attention_table(batch, cfg.model.seq_len, cfg.model.d_model, cfg.model.n_heads, dtype,
                                  narrow_dtype(cfg.train.precision, dtype)));
}

std::vector<TensorSpec> mlp_activation_specs(const config::Config& cfg, DType dtype, std::int64_t batch) {
  return specs_of(mlp_table(batch * cfg.model.seq_len, cfg.model.d_model, cfg.model.ffn_hidden, dtype,
                            narrow_dtype(cfg.train.precision, dtype)));
}

std::vector<ParamSpec> attention_parameter_specs(const config::Config& cfg, const std::string& prefix,
                                                 std::int64_t block, std::int64_t layer) {
  return param_specs_of(attention_params(cfg), prefix, block, layer);
}

std::vector<ParamSpec> mlp_parameter_specs(const config::Config& cfg, const std::string& prefix, std::int64_t block,
                                           std::int64_t layer) {
  return param_specs_of(mlp_params(cfg), prefix, block, layer);
}

Sublayer::Sublayer(const config::Config& cfg, const ParameterStore& store, std::string prefix)
    : store_(store),
      prefix_(std::move(prefix)),
      dtype_(store.dtype()),
      operand_dtype_(narrow_dtype(cfg.train.precision, store.dtype())),
      seq_len_(cfg.model.seq_len),
      d_model_(cfg.model.d_model) {}

ActivationContext Sublayer::make_context(std::int64_t batch, const TensorViews& views) const {
  return ActivationContext(prefix_, activation_layout(batch), views, store_.device());
}

const std::vector<std::string>& Sublayer::input_entries() {
  static const std::vector<std::string> names =
      layout_of(sublayer_table<SublayerState>(1, 1, DType::f32, DType::f32)).names(EntryRole::input);
  return names;
}

void Sublayer::normalise_input(const SublayerState& s, Tensor u) const {
  if (u.data != s.u.data) copy_tensor(s.u, u);
  ops::rmsnorm_forward(s.xn, s.rstd, s.u, norm_.value, kNormEps);
}

void Sublayer::rebuild_input(const ActivationContext& ctx) const {
  const SublayerState& s = ctx.state<SublayerState>();
  ops::rmsnorm_forward(s.xn, s.rstd, s.u, norm_.value, kNormEps);
}

void Sublayer::keep_output_grad(const SublayerState& s, Tensor dy) {
  if (dy.data == s.dy.data) return;
  if (dy.dtype == s.dy.dtype) {
    copy_tensor(s.dy, dy);
  } else {
    ops::convert_dtype(s.dy, dy);  // rounded to the matmul operands' bf16
  }
}

void Sublayer::check_like_input(const SublayerState& s, Tensor t, const char* what) {
  expect_shape(t, s.u.shape, what);
  expect_dtype(t, s.u.dtype, what);
}

void Sublayer::check_output_grad(const SublayerState& s, Tensor dy, const char* what) {
  expect_shape(dy, s.u.shape, what);
  if (dy.dtype != s.dy.dtype) expect_dtype(dy, s.u.dtype, what);
}

void Sublayer::norm_backward_input(const SublayerState& s, Tensor dxn, Tensor du) const {
  ops::rmsnorm_backward_input(du, dxn, s.u, norm_.value, s.rstd);
}

void Sublayer::norm_backward_weight(const SublayerState& s, Tensor dxn) const {
  ops::rmsnorm_backward_weight(norm_.grad, dxn, s.u, s.rstd);
}

// ---- attention -------------------------------------------------------------------------------------------------

AttentionSublayer::AttentionSublayer(const config::Config& cfg, const ParameterStore& store, const std::string& prefix)
    : Sublayer(cfg, store, prefix),
      p_(bind_params(attention_params(cfg), store, prefix)),
      n_heads_(cfg.model.n_heads),
      rope_theta_(cfg.model.rope_theta) {
  norm_ = p_.norm;
  MHC_CHECK(n_heads_ > 0 && d_model_ % n_heads_ == 0 && (d_model_ / n_heads_) % 2 == 0, ConfigError,
            "attention ", prefix, ": d_model ", d_model_, " must split into ", n_heads_, " heads of even size");
}

ContextLayout AttentionSublayer::activation_layout(std::int64_t batch) const {
  return layout_of(attention_table(batch, seq_len_, d_model_, n_heads_, dtype_, operand_dtype_));
}

void AttentionSublayer::forward(const ActivationContext& ctx, Tensor u, Tensor y) {
  const AttentionState& s = ctx.state<AttentionState>();
  check_like_input(s, u, "attention forward u");
  check_like_input(s, y, "attention forward y");
  const std::int64_t N = u.dim(0), B = N / seq_len_, H = n_heads_, D = d_model_ / n_heads_;
  const Shape heads{B, seq_len_, H, D};
  for (const Param* w : {&p_.wq, &p_.wk, &p_.wv, &p_.wo}) refresh_operand(*w);
  normalise_input(s, u);
  ops::linear_forward(s.q, s.xn, p_.wq.operand);
  ops::linear_forward(s.k, s.xn, p_.wk.operand);
  ops::linear_forward(s.v, s.xn, p_.wv.operand);
  const Tensor q = s.q.reshape(heads), k = s.k.reshape(heads);
  ops::rope_forward(q, q, rope_theta_);
  ops::rope_forward(k, k, rope_theta_);
  ops::attention_forward(s.o.reshape(heads), s.lse, q, k, s.v.reshape(heads));
  ops::linear_forward(y, s.o, p_.wo.operand);
}

void AttentionSublayer::backward_input(const ActivationContext& ctx, Tensor dy, Tensor du) {
  const AttentionState& s = ctx.state<AttentionState>();
  check_output_grad(s, dy, "attention backward dy");
  check_like_input(s, du, "attention backward du");
  const std::int64_t N = dy.dim(0), B = N / seq_len_, H = n_heads_, D = d_model_ / n_heads_;
  const Shape heads{B, seq_len_, H, D};
  keep_output_grad(s, dy);
  ops::linear_backward_input(s.d_o, s.dy, p_.wo.operand);
  const Tensor dq = s.dq.reshape(heads), dk = s.dk.reshape(heads);
  ops::attention_backward(dq, dk, s.dv.reshape(heads), s.d_o.reshape(heads), s.q.reshape(heads), s.k.reshape(heads),
                          s.v.reshape(heads), s.o.reshape(heads), s.lse);
  ops::rope_backward(dq, dq, rope_theta_);
  ops::rope_backward(dk, dk, rope_theta_);
  ops::linear_backward_input(s.dxn, s.dq, p_.wq.operand);
  ops::linear_backward_input(s.dxn, s.dk, p_.wk.operand, /*accumulate=*/true);
  ops::linear_backward_input(s.dxn, s.dv, p_.wv.operand, /*accumulate=*/true);
  norm_backward_input(s, s.dxn, du);
}

void AttentionSublayer::backward_weight(const ActivationContext& ctx) {
  const AttentionState& s = ctx.state<AttentionState>();
  ops::linear_backward_weight(p_.wo.grad, s.dy, s.o);
  ops::linear_backward_weight(p_.wq.grad, s.dq, s.xn);
  ops::linear_backward_weight(p_.wk.grad, s.dk, s.xn);
  ops::linear_backward_weight(p_.wv.grad, s.dv, s.xn);
  norm_backward_weight(s, s.dxn);
}

// ---- MLP -------------------------------------------------------------------------------------------------------

MlpSublayer::MlpSublayer(const config::Config& cfg, const ParameterStore& store, const std::string& prefix)
    : Sublayer(cfg, store, prefix), p_(bind_params(mlp_params(cfg), store, prefix)), ffn_hidden_(cfg.model.ffn_hidden) {
  norm_ = p_.norm;
}

ContextLayout MlpSublayer::activation_layout(std::int64_t batch) const {
  return layout_of(mlp_table(batch * seq_len_, d_model_, ffn_hidden_, dtype_, operand_dtype_));
}

void MlpSublayer::forward(const ActivationContext& ctx, Tensor u, Tensor y) {
  const MlpState& s = ctx.state<MlpState>();
  check_like_input(s, u, "mlp forward u");
  check_like_input(s, y, "mlp forward y");
  for (const Param* w : {&p_.w_gate, &p_.w_up, &p_.w_down}) refresh_operand(*w);
  normalise_input(s, u);
  ops::linear_forward(s.gate, s.xn, p_.w_gate.operand);
  ops::linear_forward(s.up, s.xn, p_.w_up.operand);
  ops::swiglu_forward(s.h, s.gate, s.up);
  ops::linear_forward(y, s.h, p_.w_down.operand);
}

void MlpSublayer::backward_input(const ActivationContext& ctx, Tensor dy, Tensor du) {
  const MlpState& s = ctx.state<MlpState>();
  check_output_grad(s, dy, "mlp backward dy");
  check_like_input(s, du, "mlp backward du");
  keep_output_grad(s, dy);
  ops::linear_backward_input(s.dgate, s.dy, p_.w_down.operand);  // dh
  ops::swiglu_backward(s.dgate, s.dup, s.dgate, s.gate, s.up);
  ops::linear_backward_input(s.dxn, s.dgate, p_.w_gate.operand);
  ops::linear_backward_input(s.dxn, s.dup, p_.w_up.operand, /*accumulate=*/true);
  norm_backward_input(s, s.dxn, du);
}

void MlpSublayer::backward_weight(const ActivationContext& ctx) {
  const MlpState& s = ctx.state<MlpState>();
  ops::linear_backward_weight(p_.w_down.grad, s.dy, s.h);
  ops::linear_backward_weight(p_.w_gate.grad, s.dgate, s.xn);
  ops::linear_backward_weight(p_.w_up.grad, s.dup, s.xn);
  norm_backward_weight(s, s.dxn);
}

}  // namespace mhc::model
