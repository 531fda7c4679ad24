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

// Saved: x, xb = per-stream RMSNorm(x), rstd_b, the coefficients, proj, y = F(u) (u = H_pre x lives in F).
// Backward buffers: dh_pre/dh_post/dh_res, dproj, dxb (all kept for W), du (transient; dy lives in F).
std::vector<TensorSpec> hc_specs(std::int64_t N, std::int64_t n, std::int64_t C, DType t) {
  std::vector<TensorSpec> specs;
  append_specs(specs, t, Shape{N, n, C}, {"x", "xb", "dxb"});
  append_specs(specs, t, Shape{N, C}, {"y", "du"});
  append_specs(specs, t, Shape{N * n}, {"rstd_b"});
  append_specs(specs, t, Shape{N, n}, {"h_pre", "h_post", "dh_pre", "dh_post"});
  append_specs(specs, t, Shape{N, n, n}, {"h_res", "dh_res"});
  append_specs(specs, t, Shape{N, n, n + 2}, {"proj", "dproj"});
  return specs;
}

// xb_i = RMSNorm(x_i) with the shared weight <prefix>.norm.weight, coefficients by hc_coeffs from
// <prefix>.w .s .am .ar .bb.
class HcConnection final : public MixingConnection {
 public:
  HcConnection(const config::Config& cfg, const ParameterStore& store, const std::string& prefix)
      : MixingConnection(cfg, store, prefix, "hc") {}

  std::vector<TensorSpec> activation_specs(std::int64_t batch) const override {
    return hc_specs(batch * seq_len_, n_, d_model_, store_.dtype());
  }

 private:
  void coefficients_forward(const ActivationContext& c, Tensor x, Tensor u) override {
    const Shape flat{x.dim(0) * n_, d_model_};
    ops::rmsnorm_forward(c["xb"].reshape(flat), c["rstd_b"], x.reshape(flat), param("norm.weight"), kNormEps);
    ops::hc_coeffs_forward(c["h_pre"], c["h_post"], c["h_res"], c["proj"], c["xb"], param("w"), param("s"),
                           param("am"), param("ar"), param("bb"));
    ops::stream_pre_apply_forward(u, x, c["h_pre"]);
  }

  // x feeds three consumers: the post+res mix, the pre-apply and the coefficients. The coefficient path writes dx_in
  // first; stream_mix_backward then adds the stream terms in one pass over dx_in.
  void streams_backward_input(const LayerContext& ctx, Tensor dx_out, Tensor dx_in, Sublayer& f) override {
    const ActivationContext& c = ctx.connection;
    const Tensor x = c["x"], dy = Sublayer::output_grad(ctx.sublayer);
    ops::stream_post_res_backward(dy, c["dh_res"], c["dh_post"], dx_out, x, c["y"], c["h_post"]);
    f.backward_input(ctx.sublayer, dy, c["du"]);
    ops::stream_pre_apply_backward(c["dh_pre"], c["du"], x);
    ops::hc_coeffs_backward_input(c["dxb"], c["dproj"], c["dh_pre"], c["dh_post"], c["dh_res"], c["proj"],
                                  param("w"), param("s"));
    const Shape flat{x.dim(0) * n_, d_model_};
    ops::rmsnorm_backward_input(dx_in.reshape(flat), c["dxb"].reshape(flat), x.reshape(flat), param("norm.weight"),
                                c["rstd_b"]);
    ops::stream_mix_backward(dx_in, dx_out, c["du"], c["h_res"], c["h_pre"], x, Tensor());  // += H_res^T g + h_pre du
  }

  void coefficients_backward_weight(const ActivationContext& c) override {
    ops::hc_coeffs_backward_weight(grad("w"), grad("s"), grad("am"), grad("ar"), grad("bb"), c["dproj"],
                                   c["dh_pre"], c["dh_post"], c["dh_res"], c["xb"], c["proj"]);
    const Shape flat{c["x"].dim(0) * n_, d_model_};
    ops::rmsnorm_backward_weight(grad("norm.weight"), c["dxb"].reshape(flat), c["x"].reshape(flat), c["rstd_b"]);
  }
};

class HcKind final : public ConnectionKind {
 public:
  std::string_view name() const override { return "hc"; }
  std::int64_t default_streams() const override { return 4; }
  std::vector<ConfigProblem> check(const config::Config&) const override { return {}; }
  bool keeps_streams() const override { return true; }

  std::vector<ParamSpec> parameter_specs(const config::Config& cfg, const std::string& prefix, std::int64_t block,
                                         std::int64_t layer) const override {
    const std::int64_t n = cfg.residual.n_streams, C = cfg.model.d_model;
    return {connection_param(prefix, "norm.weight", Shape{C}, false, block, layer),
            connection_param(prefix, "w", Shape{C, n + 2}, true, block, layer),
            connection_param(prefix, "s", Shape{2}, false, block, layer),
            connection_param(prefix, "am", Shape{n}, false, block, layer),
            connection_param(prefix, "ar", Shape{n, n}, false, block, layer),
            connection_param(prefix, "bb", Shape{n}, false, block, layer)};
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
  std::vector<TensorSpec> activation_specs(const config::Config& cfg, DType dtype,
                                           std::int64_t batch) const override {
    return hc_specs(batch * cfg.model.seq_len, cfg.residual.n_streams, cfg.model.d_model, dtype);
  }
  std::vector<std::string> transient_entries() const override { return {"du"}; }
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
