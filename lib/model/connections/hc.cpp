// residual.type "hc" (spec 2.2): dynamic Hyper-Connections, coefficients from the RMS-normalised streams, free mixing.
#include "config/config.hpp"
#include "core/host_tensor.hpp"
#include "core/rng.hpp"
#include "core/saturating.hpp"
#include "model/connection.hpp"
#include "model/gemm_shapes.hpp"
#include "model/param_specs.hpp"
#include "model/parameters.hpp"
#include "ops/hc_coeffs.hpp"
#include "ops/rmsnorm.hpp"
#include "ops/stream_mix.hpp"

namespace mhc::model {

namespace {

// Beyond StreamState: xb = per-stream RMSNorm(x), rstd_b, proj (y = F(u); u = H_pre x lives in F). Backward
// buffers: dh_pre/dh_post/dh_res, dproj, dxb (all kept for W), du (transient; dy lives in F).
struct HcState : StreamState {
  Tensor xb, rstd_b, proj, du, dh_pre, dh_post, dh_res, dproj, dxb;
};

StateTable<HcState> hc_table(std::int64_t N, std::int64_t n, std::int64_t C, DType t) {
  using S = HcState;
  StateTable<S> table;
  add_fields<S>(table, t, Shape{N, n, C}, {{"x", &S::x}, {"xb", &S::xb}, {"dxb", &S::dxb}});
  add_fields<S>(table, t, Shape{N, C}, {{"y", &S::y}});
  add_fields<S>(table, t, Shape{N, C}, {{"du", &S::du}}, EntryRole::transient);
  add_fields<S>(table, t, Shape{N * n}, {{"rstd_b", &S::rstd_b}});
  add_fields<S>(table, t, Shape{N, n},
                {{"h_pre", &S::h_pre}, {"h_post", &S::h_post}, {"dh_pre", &S::dh_pre}, {"dh_post", &S::dh_post}});
  add_fields<S>(table, t, Shape{N, n, n}, {{"h_res", &S::h_res}, {"dh_res", &S::dh_res}});
  add_fields<S>(table, t, Shape{N, n, n + 2}, {{"proj", &S::proj}, {"dproj", &S::dproj}});
  return table;
}

// norm.weight (C) of the per-stream RMSNorm, w (C, n + 2), s (2), am (n), ar (n, n), bb (n).
struct HcParams {
  Param norm, w, s, am, ar, bb;
};

ParamTable<HcParams> hc_params(const config::Config& cfg) {
  using P = HcParams;
  const std::int64_t n = cfg.residual.n_streams, C = cfg.model.d_model;
  return {connection_field("norm.weight", &P::norm, Shape{C}, false),
          connection_field("w", &P::w, Shape{C, n + 2}, true),
          connection_field("s", &P::s, Shape{2}, false),
          connection_field("am", &P::am, Shape{n}, false),
          connection_field("ar", &P::ar, Shape{n, n}, false),
          connection_field("bb", &P::bb, Shape{n}, false)};
}

// xb_i = RMSNorm(x_i) with the shared weight <prefix>.norm.weight, coefficients by hc_coeffs from
// <prefix>.w .s .am .ar .bb.
class HcConnection final : public MixingConnection {
 public:
  HcConnection(const config::Config& cfg, const ParameterStore& store, const std::string& prefix)
      : MixingConnection(cfg, store, prefix, "hc"), p_(bind_params(hc_params(cfg), store, prefix)) {}

  ContextLayout activation_layout(std::int64_t batch) const override {
    return layout_of(hc_table(batch * seq_len_, n_, d_model_, store_.dtype()));
  }

 private:
  void coefficients_forward(const ActivationContext& c, Tensor x, Tensor u) override {
    const HcState& s = c.state<HcState>();
    const Shape flat{x.dim(0) * n_, d_model_};
    ops::rmsnorm_forward(s.xb.reshape(flat), s.rstd_b, x.reshape(flat), p_.norm.value, kNormEps);
    ops::hc_coeffs_forward(s.h_pre, s.h_post, s.h_res, s.proj, s.xb, p_.w.value, p_.s.value, p_.am.value,
                           p_.ar.value, p_.bb.value);
    ops::stream_pre_apply_forward(u, x, s.h_pre);
  }

  // x feeds three consumers: the post+res mix, the pre-apply and the coefficients. The coefficient path writes dx_in
  // first; stream_mix_backward then adds the stream terms in one pass over dx_in.
  void streams_backward_input(const LayerContext& ctx, Tensor dx_out, Tensor dx_in, Sublayer& f) override {
    const HcState& s = ctx.connection.state<HcState>();
    const Tensor x = s.x, dy = Sublayer::output_grad(ctx.sublayer);
    ops::stream_post_res_backward(dy, s.dh_res, s.dh_post, dx_out, x, s.y, s.h_post);
    f.backward_input(ctx.sublayer, dy, s.du);
    ops::stream_pre_apply_backward(s.dh_pre, s.du, x);
    ops::hc_coeffs_backward_input(s.dxb, s.dproj, s.dh_pre, s.dh_post, s.dh_res, s.proj, p_.w.value, p_.s.value);
    const Shape flat{x.dim(0) * n_, d_model_};
    ops::rmsnorm_backward_input(dx_in.reshape(flat), s.dxb.reshape(flat), x.reshape(flat), p_.norm.value, s.rstd_b);
    ops::stream_mix_backward(dx_in, dx_out, s.du, s.h_res, s.h_pre, x, Tensor());  // += H_res^T g + h_pre du
  }

  void coefficients_backward_weight(const ActivationContext& c) override {
    const HcState& s = c.state<HcState>();
    ops::hc_coeffs_backward_weight(p_.w.grad, p_.s.grad, p_.am.grad, p_.ar.grad, p_.bb.grad, s.dproj, s.dh_pre,
                                   s.dh_post, s.dh_res, s.xb, s.proj);
    const Shape flat{s.x.dim(0) * n_, d_model_};
    ops::rmsnorm_backward_weight(p_.norm.grad, s.dxb.reshape(flat), s.x.reshape(flat), s.rstd_b);
  }

  HcParams p_;
};

class HcKind final : public ConnectionKind {
 public:
  std::string_view name() const override { return "hc"; }
  std::int64_t default_streams() const override { return 4; }
  std::vector<ConfigProblem> check(const config::Config&) const override { return {}; }
  bool keeps_streams() const override { return true; }

  std::vector<ParamSpec> parameter_specs(const config::Config& cfg, const std::string& prefix, std::int64_t block,
                                         std::int64_t layer) const override {
    return param_specs_of(hc_params(cfg), prefix, block, layer);
  }
  std::int64_t parameter_count(std::int64_t n, std::int64_t C) const override {
    return saturating_add(saturating_add(C, saturating_mul(C, n + 2)), 2 + n + n * n + n);
  }

  // The HC-paper init (ops::hc_init_parameters), drawn whole and the member of `spec` kept.
  void init_parameter(const ParamSpec& spec, Tensor t, const config::Config& cfg, std::uint64_t) const override {
    const std::int64_t n = cfg.residual.n_streams, C = cfg.model.d_model;
    HostTensor norm(t.dtype, Shape{C}), w(t.dtype, Shape{C, n + 2}), s(t.dtype, Shape{2}), am(t.dtype, Shape{n}),
        ar(t.dtype, Shape{n, n}), bb(t.dtype, Shape{n});
    fill_constant(norm.view(), 1.0);
    ops::hc_init_parameters(w, s, am, ar, bb, static_cast<int>(spec.layer));
    const std::pair<const char*, const HostTensor*> members[] = {{"norm.weight", &norm}, {"w", &w}, {"s", &s},
                                                                 {"am", &am}, {"ar", &ar}, {"bb", &bb}};
    for (const auto& [leaf, value] : members) {
      if (!has_leaf(spec, leaf)) continue;
      set_initial_value(t, value->view(), spec.name);
      return;
    }
    MHC_CHECK(false, ConfigError, "hc connection: no parameter ", spec.name);
  }

  // w (C, n + 2) multiplies each of the n streams of a token (ops/cpu/hc_coeffs_cpu.cpp); the static offsets ar are
  // added, not multiplied.
  std::int64_t macs_per_token(const config::Config& cfg) const override {
    const std::int64_t n = cfg.residual.n_streams;
    return n * cfg.model.d_model * (n + 2);
  }
  void add_gemm_shapes(std::vector<GemmShape>& out, const config::Config& cfg, std::int64_t N,
                       std::int64_t layers) const override {
    const std::int64_t n = cfg.residual.n_streams, C = cfg.model.d_model, P = n + 2;  // (N n, C) x (C, P)
    out.push_back({"hc coeffs fwd", N * n, P, C, false, false, layers});
    out.push_back({"hc coeffs dX", N * n, C, P, false, true, layers});
    out.push_back({"hc coeffs dW", C, P, N * n, true, false, layers});
  }
  ContextLayout activation_layout(const config::Config& cfg, DType dtype, std::int64_t batch) const override {
    return layout_of(hc_table(batch * cfg.model.seq_len, cfg.residual.n_streams, cfg.model.d_model, dtype));
  }
  std::unique_ptr<Connection> make(const config::Config& cfg, const ParameterStore& store,
                                   const std::string& prefix) const override {
    return std::make_unique<HcConnection>(cfg, store, prefix);
  }
};

}  // namespace

const ConnectionKind& hc_connection_kind() {
  static const HcKind kind;
  return kind;
}

}  // namespace mhc::model
