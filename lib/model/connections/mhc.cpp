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

// Coefficients by mhc_coeffs from <prefix>.phi .alpha .bias, H_res = Sinkhorn(res logits) with
// residual.sinkhorn_iters iterations.
class MhcConnection final : public MixingConnection {
 public:
  MhcConnection(const config::Config& cfg, const ParameterStore& store, const std::string& prefix)
      : MixingConnection(cfg, store, prefix, "mhc"), sinkhorn_iters_(static_cast<int>(cfg.residual.sinkhorn_iters)) {}

  std::vector<TensorSpec> activation_specs(std::int64_t batch) const override {
    return mhc_state_specs(batch * seq_len_, n_, d_model_, store_.dtype());
  }

 private:
  void coefficients_forward(const ActivationContext& c, Tensor x, Tensor u) override {
    ops::mhc_stream_forward({u, c["h_pre"], c["h_post"], c["res_logits"], c["h_res"], c["proj"], c["rstd"], x,
                             param("phi"), param("alpha"), param("bias")},
                            sinkhorn_iters_);
  }

  // dy first (F's backward needs it), then everything else in one op (ops/mhc_stream.hpp), which reads x and dx_out
  // once for all of the coefficient gradients and dx_in.
  void streams_backward_input(const LayerContext& ctx, Tensor dx_out, Tensor dx_in, Sublayer& f) override {
    const ActivationContext& c = ctx.connection;
    const Tensor dy = Sublayer::output_grad(ctx.sublayer);
    ops::stream_post_res_backward(dy, Tensor(), Tensor(), dx_out, c["x"], c["y"], c["h_post"]);
    f.backward_input(ctx.sublayer, dy, c["du"]);
    ops::mhc_stream_backward({dx_in, c["x_coef"], c["dtilde"], c["dh_pre"], c["dh_post"], c["dh_res"],
                              c["dres_logits"], dx_out, c["du"], c["x"], c["y"], c["h_pre"], c["h_post"], c["h_res"],
                              c["res_logits"], c["proj"], c["rstd"], param("phi"), param("alpha")},
                             sinkhorn_iters_);
  }

  void coefficients_backward_weight(const ActivationContext& c) override {
    ops::mhc_coeffs_backward_weight(grad("phi"), grad("alpha"), grad("bias"), c["dtilde"], c["x"], c["proj"],
                                    c["rstd"], param("alpha"));
  }

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
    const std::int64_t n = cfg.residual.n_streams, C = cfg.model.d_model, K = n * n + 2 * n;
    return {connection_param(prefix, "phi", Shape{n * C, K}, true, block, layer),
            connection_param(prefix, "alpha", Shape{3}, false, block, layer),
            connection_param(prefix, "bias", Shape{K}, false, block, layer)};
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
  std::vector<TensorSpec> activation_specs(const config::Config& cfg, DType dtype,
                                           std::int64_t batch) const override {
    return mhc_state_specs(batch * cfg.model.seq_len, cfg.residual.n_streams, cfg.model.d_model, dtype);
  }
  std::vector<std::string> transient_entries() const override {
    return mhc_transient_entries();
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
