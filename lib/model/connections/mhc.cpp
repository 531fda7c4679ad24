// residual.type "mhc" (spec 2.3-2.4): coefficients from the RMS-scaled streams, H_res = Sinkhorn(res logits), so the
// residual path is a doubly stochastic average at any depth.
#include "config/config.hpp"
#include "core/host_tensor.hpp"
#include "core/saturating.hpp"
#include "model/connection.hpp"
#include "model/connections/mhc_state.hpp"
#include "model/gemm_shapes.hpp"
#include "model/param_specs.hpp"
#include "model/parameters.hpp"
#include "ops/mhc_coeffs.hpp"
#include "ops/mhc_stream.hpp"
#include "ops/stream_mix.hpp"

namespace mhc::model {

namespace {

// phi (nC, K), alpha (3) = (alpha_pre, alpha_post, alpha_res), bias (K), K = n^2 + 2n.
struct MhcParams {
  Param phi, alpha, bias;
};

ParamTable<MhcParams> mhc_params(const config::Config& cfg) {
  const std::int64_t n = cfg.residual.n_streams, C = cfg.model.d_model, K = n * n + 2 * n;
  return {connection_field("phi", &MhcParams::phi, Shape{n * C, K}, true),
          connection_field("alpha", &MhcParams::alpha, Shape{3}, false),
          connection_field("bias", &MhcParams::bias, Shape{K}, false)};
}

// Coefficients by mhc_coeffs from <prefix>.phi .alpha .bias, H_res = Sinkhorn(res logits) with
// residual.sinkhorn_iters iterations.
class MhcConnection final : public MixingConnection {
 public:
  MhcConnection(const config::Config& cfg, const ParameterStore& store, const std::string& prefix)
      : MixingConnection(cfg, store, prefix, "mhc"),
        p_(bind_params(mhc_params(cfg), store, prefix)),
        sinkhorn_iters_(static_cast<int>(cfg.residual.sinkhorn_iters)) {}

  ContextLayout activation_layout(std::int64_t batch) const override {
    return layout_of(mhc_state_table<MhcState>(batch * seq_len_, n_, d_model_, store_.dtype()));
  }

 private:
  void coefficients_forward(const ActivationContext& c, Tensor x, Tensor u) override {
    const MhcState& s = c.state<MhcState>();
    ops::mhc_stream_forward(
        {u, s.h_pre, s.h_post, s.res_logits, s.h_res, s.proj, s.rstd, x, p_.phi.value, p_.alpha.value, p_.bias.value},
        sinkhorn_iters_);
  }

  // dy first (F's backward needs it), then everything else in one op (ops/mhc_stream.hpp), which reads x and dx_out
  // once for all of the coefficient gradients and dx_in.
  void streams_backward_input(const LayerContext& ctx, Tensor dx_out, Tensor dx_in, Sublayer& f) override {
    const MhcState& s = ctx.connection.state<MhcState>();
    const Tensor dy = Sublayer::output_grad(ctx.sublayer);
    ops::stream_post_res_backward(dy, Tensor(), Tensor(), dx_out, s.x, s.y, s.h_post);
    f.backward_input(ctx.sublayer, dy, s.du);
    ops::mhc_stream_backward({dx_in, s.x_coef, s.dtilde, s.dh_pre, s.dh_post, s.dh_res, s.dres_logits, dx_out, s.du,
                              s.x, s.y, s.h_pre, s.h_post, s.h_res, s.res_logits, s.proj, s.rstd, p_.phi.value,
                              p_.alpha.value},
                             sinkhorn_iters_);
  }

  void coefficients_backward_weight(const ActivationContext& c) override {
    const MhcState& s = c.state<MhcState>();
    ops::mhc_coeffs_backward_weight(p_.phi.grad, p_.alpha.grad, p_.bias.grad, s.dtilde, s.x, s.proj, s.rstd,
                                    p_.alpha.value);
  }

  MhcParams p_;
  int sinkhorn_iters_;
};

class MhcKind final : public ConnectionKind {
 public:
  std::string_view name() const override { return "mhc"; }
  std::int64_t default_streams() const override { return 4; }
  std::vector<ConfigProblem> check(const config::Config&) const override { return {}; }
  bool keeps_streams() const override { return true; }

  std::vector<ParamSpec> parameter_specs(const config::Config& cfg, const std::string& prefix, std::int64_t block,
                                         std::int64_t layer) const override {
    return param_specs_of(mhc_params(cfg), prefix, block, layer);
  }
  std::int64_t parameter_count(std::int64_t n, std::int64_t C) const override {
    const std::int64_t K = n * n + 2 * n;
    return saturating_add(saturating_mul(saturating_mul(n, C), K), 3 + K);
  }

  // ops::mhc_init_parameters with scratch tensors for the other two members (phi is drawn only when it is kept).
  void init_parameter(const ParamSpec& spec, Tensor t, const config::Config& cfg, std::uint64_t seed) const override {
    const std::int64_t n = cfg.residual.n_streams, C = cfg.model.d_model, K = n * n + 2 * n;
    const bool is_phi = has_leaf(spec, "phi"), is_alpha = has_leaf(spec, "alpha"), is_bias = has_leaf(spec, "bias");
    MHC_CHECK(is_phi || is_alpha || is_bias, ConfigError, "mhc connection: no parameter ", spec.name);
    HostTensor phi = is_phi ? HostTensor() : HostTensor(t.dtype, Shape{n * C, K});
    HostTensor alpha = is_alpha ? HostTensor() : HostTensor(t.dtype, Shape{3});
    HostTensor bias = is_bias ? HostTensor() : HostTensor(t.dtype, Shape{K});
    ops::MhcInit init = mhc_init_of(cfg);
    if (!is_phi) init.phi = ops::MhcInit::Phi::zero;  // skip drawing a phi nobody keeps
    ops::mhc_init_parameters(is_phi ? t : phi.view(), is_alpha ? t : alpha.view(), is_bias ? t : bias.view(),
                             static_cast<int>(spec.layer), init, seed, parent_name(spec.name));
  }

  std::int64_t macs_per_token(const config::Config& cfg) const override {
    const std::int64_t n = cfg.residual.n_streams;
    return n * cfg.model.d_model * (n * n + 2 * n);
  }
  // The forward projection is the fused RMS + projection kernel (no GEMM); its backward is two GEMMs per residual
  // layer (rms_projection_cpu.cpp).
  void add_gemm_shapes(std::vector<GemmShape>& out, const config::Config& cfg, std::int64_t N,
                       std::int64_t layers) const override {
    const std::int64_t n = cfg.residual.n_streams, C = cfg.model.d_model, K = n * n + 2 * n;
    out.push_back({"mhc coeffs dX", N, n * C, K, false, true, layers});
    out.push_back({"mhc coeffs dphi", n * C, K, N, true, false, layers});
  }
  ContextLayout activation_layout(const config::Config& cfg, DType dtype, std::int64_t batch) const override {
    return layout_of(
        mhc_state_table<MhcState>(batch * cfg.model.seq_len, cfg.residual.n_streams, cfg.model.d_model, dtype));
  }
  std::unique_ptr<Connection> make(const config::Config& cfg, const ParameterStore& store,
                                   const std::string& prefix) const override {
    return std::make_unique<MhcConnection>(cfg, store, prefix);
  }
};

}  // namespace

const ConnectionKind& mhc_connection_kind() {
  static const MhcKind kind;
  return kind;
}

}  // namespace mhc::model
