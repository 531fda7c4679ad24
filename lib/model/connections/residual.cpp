// residual.type "residual" (spec 2.1): the plain pre-norm residual x_out = x_in + F(x_in) on one stream (n = 1).
#include "config/config.hpp"
#include "model/connection.hpp"
#include "model/gemm_shapes.hpp"
#include "model/param_specs.hpp"
#include "ops/elementwise.hpp"

namespace mhc::model {

namespace {

// Rows (B*T, C) of one stream tensor (B*T, 1, C).
Tensor single_stream(Tensor x) { return x.reshape(Shape{x.dim(0), x.dim(2)}); }

// Keeps nothing: F saves its own input, so there is nothing to recompute (forward_from_f_output throws ConfigError;
// Model keeps residual layers as they are when recompute is on).
class ResidualConnection final : public Connection {
 public:
  ResidualConnection(const config::Config& cfg, const ParameterStore& store, const std::string& prefix)
      : Connection(cfg, prefix, 1, store.device()), dtype_(store.dtype()) {
    MHC_CHECK(cfg.residual.n_streams == 1, ConfigError, "residual connection ", prefix,
              ": residual.n_streams must be 1, got ", cfg.residual.n_streams);
  }

  ContextLayout activation_layout(std::int64_t) const override { return {}; }

  // F writes straight into x_out, then x_out += x_in.
  void forward(const LayerContext& ctx, Tensor x_in, Tensor x_out, Sublayer& f) override {
    check_streams(x_in, dtype_, "residual forward x_in");
    check_streams(x_out, dtype_, "residual forward x_out");
    MHC_CHECK(x_in.data != x_out.data, ShapeError, "residual forward: x_out must not alias x_in");
    const Tensor x = single_stream(x_in), y = single_stream(x_out);
    f.forward(ctx.sublayer, x, y);
    ops::axpby(y, 1.0f, y, 1.0f, x);
  }

  // dx_in = dx_out + F.backward_input(dx_out).
  void backward_input(const LayerContext& ctx, Tensor dx_out, Tensor dx_in, Sublayer& f) override {
    check_streams(dx_out, dtype_, "residual backward dx_out");
    check_streams(dx_in, dtype_, "residual backward dx_in");
    MHC_CHECK(dx_in.data != dx_out.data, ShapeError, "residual backward: dx_in must not alias dx_out");
    const Tensor dy = single_stream(dx_out), dx = single_stream(dx_in);
    f.backward_input(ctx.sublayer, dy, dx);
    ops::axpby(dx, 1.0f, dx, 1.0f, dy);
  }

  void backward_weight(const LayerContext& ctx, Sublayer& f) override { f.backward_weight(ctx.sublayer); }

  void forward_from_f_output(const LayerContext&, Tensor, Tensor, Sublayer&) override {
    MHC_CHECK(false, ConfigError, "residual connection ", prefix_, ": keeps no state, nothing to recompute");
  }

 private:
  DType dtype_;
};

class ResidualKind final : public ConnectionKind {
 public:
  std::string_view name() const override { return "residual"; }
  std::int64_t default_streams() const override { return 1; }
  std::vector<ConfigProblem> check(const config::Config& cfg) const override {
    const std::int64_t n = cfg.residual.n_streams;
    if (n == 1) return {};
    return {{{"residual.type", "residual.n_streams"},
             "residual.type \"residual\" needs residual.n_streams = 1, got " + std::to_string(n) +
                 "; set residual.n_streams to 1 or residual.type to an n-stream type such as \"mhc\""}};
  }
  bool keeps_streams() const override { return false; }
  std::vector<ParamSpec> parameter_specs(const config::Config&, const std::string&, std::int64_t,
                                         std::int64_t) const override {
    return {};
  }
  std::int64_t parameter_count(std::int64_t, std::int64_t) const override { return 0; }
  void init_parameter(const ParamSpec& spec, Tensor, const config::Config&, std::uint64_t) const override {
    MHC_CHECK(false, ConfigError, "residual connection: has no parameter ", spec.name);
  }
  std::int64_t macs_per_token(const config::Config&) const override { return 0; }
  void add_gemm_shapes(std::vector<GemmShape>&, const config::Config&, std::int64_t, std::int64_t) const override {}
  ContextLayout activation_layout(const config::Config&, DType, std::int64_t) const override { return {}; }
  std::unique_ptr<Connection> make(const config::Config& cfg, const ParameterStore& store,
                                   const std::string& prefix) const override {
    return std::make_unique<ResidualConnection>(cfg, store, prefix);
  }
};

}  // namespace

const ConnectionKind& residual_connection_kind() {
  static const ResidualKind kind;
  return kind;
}

}  // namespace mhc::model
