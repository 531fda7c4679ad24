// Sublayer functions F of a residual layer (spec section 1): pre-RMSNorm attention and pre-RMSNorm SwiGLU MLP.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "model/activations.hpp"
#include "model/parameters.hpp"

namespace mhc::model {

constexpr double kNormEps = 1e-6;  // eps of every pre-RMSNorm (spec section 1)

// The entries every F keeps: its input u, RMSNorm(u) "xn" and its "rstd" (F's input entries, EntryRole::input),
// and dy (kept for W).
struct SublayerState : ContextState {
  Tensor u, xn, rstd, dy;
};
// Saved: q and k after RoPE, v, the attention output o, lse (B, H, T). Backward: dq/dk/dv (before RoPE, kept for
// dWq/dWk/dWv), dxn (kept for the norm weight), d_o (transient).
struct AttentionState : SublayerState {
  Tensor q, k, v, o, lse, dq, dk, dv, dxn, d_o;
};
// Saved: gate and up projections, h = swiglu(gate, up). Backward: dgate/dup (kept for dWgate/dWup; dgate first holds
// dh = dy Wdown, which swiglu_backward may overwrite), dxn (kept for the norm weight).
struct MlpState : SublayerState {
  Tensor gate, up, h, dgate, dup, dxn;
};
struct AttentionParams {
  Param norm, wq, wk, wv, wo;
};
struct MlpParams {
  Param norm, w_gate, w_up, w_down;
};

// y = F(u) on the (B*T, C) rows of one micro-batch. F never knows which connection wraps it. All tensors have the
// dtype of the ParameterStore the sublayer is bound to.
class Sublayer {
 public:
  virtual ~Sublayer() = default;

  // The tensors F keeps in its context for a micro-batch of `batch` sequences (saved activations and the
  // backward buffers B hands to W), from its state table.
  virtual ContextLayout activation_layout(std::int64_t batch) const = 0;
  // A context of that layout whose entries named in `views` are those views (selective recomputation).
  ActivationContext make_context(std::int64_t batch, const TensorViews& views = {}) const;

  // y (B*T, C) = F(u (B*T, C)); y overwritten, may not alias u. Saves into ctx what the backward needs (a copy of u
  // included, so u need not outlive the call).
  virtual void forward(const ActivationContext& ctx, Tensor u, Tensor y) = 0;
  // B: du (B*T, C) = dL/du from dy (B*T, C) (du overwritten; dy is copied, so it need not outlive the call).
  // Keeps in ctx what W needs.
  virtual void backward_input(const ActivationContext& ctx, Tensor dy, Tensor du) = 0;
  // W: the weight gradients of F += (after backward_input on the same ctx).
  virtual void backward_weight(const ActivationContext& ctx) = 0;

  // Where F keeps its input u (B*T, C): a caller may compute u straight into it; forward then skips the copy.
  static Tensor input(const ActivationContext& ctx) { return ctx.state<SublayerState>().u; }
  // Where F keeps dy (B*T, C) for W: a caller may write dy straight into it; backward_input then skips the copy.
  // bf16 under train.precision "bf16" (a matmul operand): a caller writing it stores dy rounded.
  static Tensor output_grad(const ActivationContext& ctx) { return ctx.state<SublayerState>().dy; }
  // The entries F's forward derives from u alone before its heavy part (EntryRole::input of SublayerState).
  // Selective recomputation keeps them per block position only and rebuilds them with rebuild_input.
  static const std::vector<std::string>& input_entries();
  // Rebuilds xn and rstd from ctx["u"] (already holding u) with forward's op: bitwise what forward saved.
  void rebuild_input(const ActivationContext& ctx) const;

  std::int64_t batch_rows(std::int64_t batch) const { return batch * seq_len_; }

 protected:
  Sublayer(const config::Config& cfg, const ParameterStore& store, std::string prefix);
  // Checks that t has the shape and dtype of s.u (ShapeError naming `what`).
  static void check_like_input(const SublayerState& s, Tensor t, const char* what);
  // Checks that dy has the shape of s.u and its dtype or that of s.dy (the connection may write s.dy itself).
  static void check_output_grad(const SublayerState& s, Tensor dy, const char* what);
  // The start of every forward: u copied into s.u (unless it is that tensor), then xn, rstd = RMSNorm(u).
  void normalise_input(const SublayerState& s, Tensor u) const;
  // The start of every backward_input: dy copied into s.dy (unless it is that tensor), rounded when s.dy is bf16.
  static void keep_output_grad(const SublayerState& s, Tensor dy);
  // The RMSNorm backward shared by both: du from s.dxn; the norm weight's gradient += (W).
  void norm_backward_input(const SublayerState& s, Tensor dxn, Tensor du) const;
  void norm_backward_weight(const SublayerState& s, Tensor dxn) const;

  const ParameterStore& store_;
  std::string prefix_;  // e.g. "blocks.3.attn"
  Param norm_;  // F's RMSNorm weight: set by the derived constructor from its parameter table
  DType dtype_;
  DType operand_dtype_;  // of the matmul operands: bf16 under train.precision "bf16", else dtype_
  std::int64_t seq_len_, d_model_;
};

// F_a(u) = Wo . CausalSelfAttention(RoPE(Wq n), RoPE(Wk n), Wv n), n = RMSNorm(u); parameters
// <prefix>.norm.weight (C), .wq .wk .wv .wo (C, C).
class AttentionSublayer final : public Sublayer {
 public:
  AttentionSublayer(const config::Config& cfg, const ParameterStore& store, const std::string& prefix);
  ContextLayout activation_layout(std::int64_t batch) const override;
  void forward(const ActivationContext& ctx, Tensor u, Tensor y) override;
  void backward_input(const ActivationContext& ctx, Tensor dy, Tensor du) override;
  void backward_weight(const ActivationContext& ctx) override;

 private:
  AttentionParams p_;
  std::int64_t n_heads_;
  double rope_theta_;
};

// F_m(u) = Wdown . (silu(Wgate n) * (Wup n)), n = RMSNorm(u); parameters <prefix>.norm.weight (C),
// .w_gate .w_up (F, C), .w_down (C, F).
class MlpSublayer final : public Sublayer {
 public:
  MlpSublayer(const config::Config& cfg, const ParameterStore& store, const std::string& prefix);
  ContextLayout activation_layout(std::int64_t batch) const override;
  void forward(const ActivationContext& ctx, Tensor u, Tensor y) override;
  void backward_input(const ActivationContext& ctx, Tensor dy, Tensor du) override;
  void backward_weight(const ActivationContext& ctx) override;

 private:
  MlpParams p_;
  std::int64_t ffn_hidden_;
};

// The tensors F keeps for a micro-batch of `batch` sequences, without building F (the `plan` prediction); equal to
// the activation_specs of AttentionSublayer / MlpSublayer bound to a store of `dtype`.
std::vector<TensorSpec> attention_activation_specs(const config::Config& cfg, DType dtype, std::int64_t batch);
std::vector<TensorSpec> mlp_activation_specs(const config::Config& cfg, DType dtype, std::int64_t batch);

// The parameters of F under `prefix` (e.g. "blocks.3.attn") in the model's table order, from F's parameter table.
std::vector<ParamSpec> attention_parameter_specs(const config::Config& cfg, const std::string& prefix,
                                                 std::int64_t block, std::int64_t layer);
std::vector<ParamSpec> mlp_parameter_specs(const config::Config& cfg, const std::string& prefix, std::int64_t block,
                                           std::int64_t layer);

}  // namespace mhc::model
