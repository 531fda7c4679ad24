// residual.type "mhc_static": mHC (spec 2.3) without its dynamic term, the paper's ablation of input-dependent
// mappings. Each layer learns logits b (K) = [b_pre | b_post | b_res] only; every token gets h_pre = sigmoid(b_pre),
// h_post = 2 sigmoid(b_post), H_res = Sinkhorn(b_res): mHC's coefficient map with alpha * z = 0. H_res is still
// doubly stochastic, so the residual path stays an averaging map; what is lost is the per-token routing.
#include "config/config.hpp"
#include "core/copy.hpp"
#include "core/host_tensor.hpp"
#include "model/connection.hpp"
#include "model/connections/mhc_state.hpp"
#include "model/gemm_shapes.hpp"
#include "model/param_specs.hpp"
#include "model/parameters.hpp"
#include "ops/mhc_coeffs.hpp"
#include "ops/sinkhorn.hpp"
#include "ops/stream_mix.hpp"

namespace mhc::model {

namespace {

// The coefficients come from the mHC coefficient ops run on a zero stream state of width 1 (zero_x (N, n, 1), zero
// phi and alpha): z = 0, so the pre-activations are the bias and every gradient flows to it alone. The zero
// entries are never written (contexts are zero-filled); dzero_x, dzero_phi and dzero_alpha take the unused
// gradients of the zero state (dzero_phi and dzero_alpha stay 0: dproj = alpha dtilde rstd = 0).
// The rest is mhc's state table (proj and rstd are the zero state's); dzero_x is transient too.
struct StaticState : MhcState {
  Tensor zero_x, dzero_x, zero_phi, dzero_phi, zero_alpha, dzero_alpha;
};

StateTable<StaticState> static_table(std::int64_t N, std::int64_t n, std::int64_t C, DType t) {
  using S = StaticState;
  const std::int64_t K = n * n + 2 * n;
  StateTable<S> table = mhc_state_table<S>(N, n, C, t);
  add_fields<S>(table, t, Shape{N, n, 1}, {{"zero_x", &S::zero_x}});
  add_fields<S>(table, t, Shape{N, n, 1}, {{"dzero_x", &S::dzero_x}}, EntryRole::transient);
  add_fields<S>(table, t, Shape{n, K}, {{"zero_phi", &S::zero_phi}, {"dzero_phi", &S::dzero_phi}});
  add_fields<S>(table, t, Shape{3}, {{"zero_alpha", &S::zero_alpha}, {"dzero_alpha", &S::dzero_alpha}});
  return table;
}

// bias (K) = [b_pre | b_post | b_res].
struct StaticParams {
  Param bias;
};

ParamTable<StaticParams> static_params(const config::Config& cfg) {
  const std::int64_t n = cfg.residual.n_streams;
  return {connection_field("bias", &StaticParams::bias, Shape{n * n + 2 * n}, false)};
}

class MhcStaticConnection final : public MixingConnection {
 public:
  MhcStaticConnection(const config::Config& cfg, const ParameterStore& store, const std::string& prefix)
      : MixingConnection(cfg, store, prefix, "mhc_static"),
        p_(bind_params(static_params(cfg), store, prefix)),
        sinkhorn_iters_(static_cast<int>(cfg.residual.sinkhorn_iters)) {}

  ContextLayout activation_layout(std::int64_t batch) const override {
    return layout_of(static_table(batch * seq_len_, n_, d_model_, store_.dtype()));
  }

 private:
  void coefficients_forward(const ActivationContext& c, Tensor x, Tensor u) override {
    const StaticState& s = c.state<StaticState>();
    ops::mhc_coeffs_sinkhorn_forward(s.h_pre, s.h_post, s.res_logits, s.h_res, s.proj, s.rstd, s.zero_x, s.zero_phi,
                                     s.zero_alpha, p_.bias.value, sinkhorn_iters_);
    ops::stream_pre_apply_forward(u, x, s.h_pre);
  }

  // The coefficients do not depend on x: dx_in is the stream terms alone (H_res^T dx_out + h_pre du).
  void streams_backward_input(const LayerContext& ctx, Tensor dx_out, Tensor dx_in, Sublayer& f) override {
    const StaticState& s = ctx.connection.state<StaticState>();
    const Tensor x = s.x, dy = Sublayer::output_grad(ctx.sublayer);
    ops::stream_post_res_backward(dy, s.dh_res, s.dh_post, dx_out, x, s.y, s.h_post);
    f.backward_input(ctx.sublayer, dy, s.du);
    ops::stream_pre_apply_backward(s.dh_pre, s.du, x);
    ops::sinkhorn_backward(s.dres_logits, s.dh_res, s.res_logits, sinkhorn_iters_);
    ops::mhc_coeffs_backward_input(s.dzero_x, s.x_coef, s.dtilde, s.dh_pre, s.dh_post, s.dres_logits, s.zero_phi,
                                   s.zero_alpha, s.h_pre, s.h_post, s.proj, s.rstd);
    zero_tensor(dx_in);
    ops::stream_mix_backward(dx_in, dx_out, s.du, s.h_res, s.h_pre, x, Tensor());
  }

  // dbias += sum over tokens of dtilde.
  void coefficients_backward_weight(const ActivationContext& c) override {
    const StaticState& s = c.state<StaticState>();
    ops::mhc_coeffs_backward_weight(s.dzero_phi, s.dzero_alpha, p_.bias.grad, s.dtilde, s.zero_x, s.proj, s.rstd,
                                    s.zero_alpha);
  }

  StaticParams p_;
  int sinkhorn_iters_;
};

class MhcStaticKind final : public ConnectionKind {
 public:
  std::string_view name() const override { return "mhc_static"; }
  std::int64_t default_streams() const override { return 4; }
  std::vector<ConfigProblem> check(const config::Config&) const override { return {}; }
  bool keeps_streams() const override { return true; }

  std::vector<ParamSpec> parameter_specs(const config::Config& cfg, const std::string& prefix, std::int64_t block,
                                         std::int64_t layer) const override {
    return param_specs_of(static_params(cfg), prefix, block, layer);
  }
  std::int64_t parameter_count(std::int64_t n, std::int64_t) const override { return n * n + 2 * n; }

  // mHC's bias init (residual.bias_init): at "identity" the layer starts as mHC does with alpha = 0.
  void init_parameter(const ParamSpec& spec, Tensor t, const config::Config& cfg, std::uint64_t seed) const override {
    MHC_CHECK(has_leaf(spec, "bias"), ConfigError, "mhc_static connection: no parameter ", spec.name);
    const std::int64_t n = cfg.residual.n_streams, K = n * n + 2 * n;
    HostTensor phi(t.dtype, Shape{n, K}), alpha(t.dtype, Shape{3});
    ops::MhcInit init = mhc_init_of(cfg);
    init.phi = ops::MhcInit::Phi::zero;
    ops::mhc_init_parameters(phi, alpha, t, static_cast<int>(spec.layer), init, seed, parent_name(spec.name));
  }

  std::int64_t macs_per_token(const config::Config&) const override { return 0; }
  // The coefficient backward runs two GEMMs on the width-1 zero state, n K multiply-adds per token each, which are
  // not the model's products: they are not listed (nor counted in the FLOPs).
  void add_gemm_shapes(std::vector<GemmShape>&, const config::Config&, std::int64_t, std::int64_t) const override {}
  ContextLayout activation_layout(const config::Config& cfg, DType dtype, std::int64_t batch) const override {
    return layout_of(static_table(batch * cfg.model.seq_len, cfg.residual.n_streams, cfg.model.d_model, dtype));
  }
  std::unique_ptr<Connection> make(const config::Config& cfg, const ParameterStore& store,
                                   const std::string& prefix) const override {
    return std::make_unique<MhcStaticConnection>(cfg, store, prefix);
  }
};

}  // namespace

const ConnectionKind& mhc_static_connection_kind() {
  static const MhcStaticKind kind;
  return kind;
}

}  // namespace mhc::model
