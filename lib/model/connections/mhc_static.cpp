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
std::vector<TensorSpec> static_specs(std::int64_t N, std::int64_t n, std::int64_t C, DType t) {
  const std::int64_t K = n * n + 2 * n;
  std::vector<TensorSpec> specs = mhc_state_specs(N, n, C, t);
  append_specs(specs, t, Shape{N, n, 1}, {"zero_x", "dzero_x"});
  append_specs(specs, t, Shape{n, K}, {"zero_phi", "dzero_phi"});
  append_specs(specs, t, Shape{3}, {"zero_alpha", "dzero_alpha"});
  return specs;
}

class MhcStaticConnection final : public MixingConnection {
 public:
  MhcStaticConnection(const config::Config& cfg, const ParameterStore& store, const std::string& prefix)
      : MixingConnection(cfg, store, prefix, "mhc_static"),
        sinkhorn_iters_(static_cast<int>(cfg.residual.sinkhorn_iters)) {}

  std::vector<TensorSpec> activation_specs(std::int64_t batch) const override {
    return static_specs(batch * seq_len_, n_, d_model_, store_.dtype());
  }

 private:
  void coefficients_forward(const ActivationContext& c, Tensor x, Tensor u) override {
    ops::mhc_coeffs_sinkhorn_forward(c["h_pre"], c["h_post"], c["res_logits"], c["h_res"], c["proj"], c["rstd"],
                                     c["zero_x"], c["zero_phi"], c["zero_alpha"], param("bias"), sinkhorn_iters_);
    ops::stream_pre_apply_forward(u, x, c["h_pre"]);
  }

  // The coefficients do not depend on x: dx_in is the stream terms alone (H_res^T dx_out + h_pre du).
  void streams_backward_input(const LayerContext& ctx, Tensor dx_out, Tensor dx_in, Sublayer& f) override {
    const ActivationContext& c = ctx.connection;
    const Tensor x = c["x"], dy = Sublayer::output_grad(ctx.sublayer);
    ops::stream_post_res_backward(dy, c["dh_res"], c["dh_post"], dx_out, x, c["y"], c["h_post"]);
    f.backward_input(ctx.sublayer, dy, c["du"]);
    ops::stream_pre_apply_backward(c["dh_pre"], c["du"], x);
    ops::sinkhorn_backward(c["dres_logits"], c["dh_res"], c["res_logits"], sinkhorn_iters_);
    ops::mhc_coeffs_backward_input(c["dzero_x"], c["x_coef"], c["dtilde"], c["dh_pre"], c["dh_post"],
                                   c["dres_logits"], c["zero_phi"], c["zero_alpha"], c["h_pre"], c["h_post"],
                                   c["proj"], c["rstd"]);
    zero_tensor(dx_in);
    ops::stream_mix_backward(dx_in, dx_out, c["du"], c["h_res"], c["h_pre"], x, Tensor());
  }

  // dbias += sum over tokens of dtilde.
  void coefficients_backward_weight(const ActivationContext& c) override {
    ops::mhc_coeffs_backward_weight(c["dzero_phi"], c["dzero_alpha"], grad("bias"), c["dtilde"], c["zero_x"],
                                    c["proj"], c["rstd"], c["zero_alpha"]);
  }

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
    const std::int64_t n = cfg.residual.n_streams;
    return {connection_param(prefix, "bias", Shape{n * n + 2 * n}, false, block, layer)};
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
  std::vector<TensorSpec> activation_specs(const config::Config& cfg, DType dtype,
                                           std::int64_t batch) const override {
    return static_specs(batch * cfg.model.seq_len, cfg.residual.n_streams, cfg.model.d_model, dtype);
  }
  std::vector<std::string> transient_entries() const override {
    std::vector<std::string> entries = mhc_transient_entries();
    entries.push_back("dzero_x");
    return entries;
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
