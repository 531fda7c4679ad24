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

// y = F(u) on the (B*T, C) rows of one micro-batch. F never knows which connection wraps it. All tensors have the
// dtype of the ParameterStore the sublayer is bound to.
class Sublayer {
 public:
  virtual ~Sublayer() = default;

  // The tensors F keeps in its context for a micro-batch of `batch` sequences (saved activations and the
  // backward buffers B hands to W).
  virtual std::vector<TensorSpec> activation_specs(std::int64_t batch) const = 0;
  ActivationContext make_context(std::int64_t batch) const;

  // y (B*T, C) = F(u (B*T, C)); y overwritten, may not alias u. Saves into ctx what the backward needs (a copy of u
  // included, so u need not outlive the call).
  virtual void forward(const ActivationContext& ctx, Tensor u, Tensor y) = 0;
  // B: du (B*T, C) = dL/du from dy (B*T, C) (du overwritten; dy is copied, so it need not outlive the call).
  // Keeps in ctx what W needs.
  virtual void backward_input(const ActivationContext& ctx, Tensor dy, Tensor du) = 0;
  // W: the weight gradients of F += (after backward_input on the same ctx).
  virtual void backward_weight(const ActivationContext& ctx) = 0;

  // Where F keeps its input u (B*T, C): a caller may compute u straight into it; forward then skips the copy.
  static Tensor input(const ActivationContext& ctx) { return ctx["u"]; }
  // Where F keeps dy (B*T, C) for W: a caller may write dy straight into it; backward_input then skips the copy.
  static Tensor output_grad(const ActivationContext& ctx) { return ctx["dy"]; }
  // The entries F's forward derives from u alone before its heavy part: u, RMSNorm(u) "xn" and its "rstd".
  // Selective recomputation keeps them per block position only and rebuilds them with rebuild_input.
  static const std::vector<std::string>& input_entries();
  // Rebuilds xn and rstd from ctx["u"] (already holding u) with forward's op: bitwise what forward saved.
  void rebuild_input(const ActivationContext& ctx) const;

  std::int64_t batch_rows(std::int64_t batch) const { return batch * seq_len_; }

 protected:
  Sublayer(const config::Config& cfg, const ParameterStore& store, std::string prefix);
  Tensor param(const std::string& leaf) const { return store_.param(prefix_ + "." + leaf); }
  Tensor grad(const std::string& leaf) const { return store_.grad(prefix_ + "." + leaf); }
  // Checks that t has the shape and dtype of the context tensor `like` (ShapeError naming `what`).
  void check_like(const ActivationContext& ctx, const std::string& like, Tensor t, const char* what) const;
  // The start of every forward: u copied into ctx["u"] (unless it is that tensor), then xn, rstd = RMSNorm(u).
  void normalise_input(const ActivationContext& ctx, Tensor u) const;
  // The start of every backward_input: dy copied into ctx["dy"] (unless it is that tensor).
  static void keep_output_grad(const ActivationContext& ctx, Tensor dy);

  const ParameterStore& store_;
  std::string prefix_;  // e.g. "blocks.3.attn"
  DType dtype_;
  std::int64_t seq_len_, d_model_;
};

// F_a(u) = Wo . CausalSelfAttention(RoPE(Wq n), RoPE(Wk n), Wv n), n = RMSNorm(u); parameters
// <prefix>.norm.weight (C), .wq .wk .wv .wo (C, C).
class AttentionSublayer final : public Sublayer {
 public:
  AttentionSublayer(const config::Config& cfg, const ParameterStore& store, const std::string& prefix);
  std::vector<TensorSpec> activation_specs(std::int64_t batch) const override;
  void forward(const ActivationContext& ctx, Tensor u, Tensor y) override;
  void backward_input(const ActivationContext& ctx, Tensor dy, Tensor du) override;
  void backward_weight(const ActivationContext& ctx) override;

 private:
  std::int64_t n_heads_;
  double rope_theta_;
};

// F_m(u) = Wdown . (silu(Wgate n) * (Wup n)), n = RMSNorm(u); parameters <prefix>.norm.weight (C),
// .w_gate .w_up (F, C), .w_down (C, F).
class MlpSublayer final : public Sublayer {
 public:
  MlpSublayer(const config::Config& cfg, const ParameterStore& store, const std::string& prefix);
  std::vector<TensorSpec> activation_specs(std::int64_t batch) const override;
  void forward(const ActivationContext& ctx, Tensor u, Tensor y) override;
  void backward_input(const ActivationContext& ctx, Tensor dy, Tensor du) override;
  void backward_weight(const ActivationContext& ctx) override;

 private:
  std::int64_t ffn_hidden_;
};

// The tensors F keeps for a micro-batch of `batch` sequences, without building F (the `plan` prediction); equal to
// the activation_specs of AttentionSublayer / MlpSublayer bound to a store of `dtype`.
std::vector<TensorSpec> attention_activation_specs(const config::Config& cfg, DType dtype, std::int64_t batch);
std::vector<TensorSpec> mlp_activation_specs(const config::Config& cfg, DType dtype, std::int64_t batch);

}  // namespace mhc::model
