// The residual, hc and mhc connections: coefficients, pre-apply, F, post+res, and the split backward.
#include "model/connection.hpp"

#include "core/copy.hpp"
#include "ops/elementwise.hpp"
#include "ops/hc_coeffs.hpp"
#include "ops/mhc_coeffs.hpp"
#include "ops/mhc_stream.hpp"
#include "ops/rmsnorm.hpp"
#include "ops/stream_mix.hpp"

namespace mhc::model {

Connection::Connection(const config::Config& cfg, std::string prefix, std::int64_t n, Device device)
    : prefix_(std::move(prefix)), n_(n), seq_len_(cfg.model.seq_len), d_model_(cfg.model.d_model), device_(device) {}

ActivationContext Connection::make_context(std::int64_t batch) const {
  return ActivationContext(prefix_, activation_specs(batch), {}, device_);
}

void Connection::check_streams(Tensor t, DType dtype, const char* what) const {
  expect_rank(t, 3, what);
  MHC_CHECK(t.dim(0) > 0 && t.dim(0) % seq_len_ == 0 && t.dim(1) == n_ && t.dim(2) == d_model_, ShapeError, what,
            " must have shape (B*T, ", n_, ", ", d_model_, ") with T = ", seq_len_, ", got ", t.describe());
  expect_dtype(t, dtype, what);
}

namespace {

// Rows (B*T, C) of one stream tensor (B*T, 1, C).
Tensor single_stream(Tensor x) { return x.reshape(Shape{x.dim(0), x.dim(2)}); }

void append(std::vector<TensorSpec>& specs, DType dtype, Shape shape, std::initializer_list<const char*> names) {
  for (const char* name : names) specs.push_back({name, dtype, shape});
}

// hc saved: x, xb = per-stream RMSNorm(x), rstd_b, the coefficients, proj, y = F(u) (u = H_pre x lives in F).
// Backward buffers: dh_pre/dh_post/dh_res, dproj, dxb (all kept for W), du (transient; dy lives in F).
const std::vector<std::string> kHcTransient{"du"};
std::vector<TensorSpec> hc_specs(std::int64_t N, std::int64_t n, std::int64_t C, DType t) {
  std::vector<TensorSpec> specs;
  append(specs, t, Shape{N, n, C}, {"x", "xb", "dxb"});
  append(specs, t, Shape{N, C}, {"y", "du"});
  append(specs, t, Shape{N * n}, {"rstd_b"});
  append(specs, t, Shape{N, n}, {"h_pre", "h_post", "dh_pre", "dh_post"});
  append(specs, t, Shape{N, n, n}, {"h_res", "dh_res"});
  append(specs, t, Shape{N, n, n + 2}, {"proj", "dproj"});
  return specs;
}

// mhc saved: x, the coefficients (h_res and its logits), proj, rstd, y = F(u) (u = H_pre x lives in F).
// Backward buffers: du/dh_pre/dh_post/dh_res/dres_logits/x_coef (transient; dy lives in F), dtilde (kept for W).
const std::vector<std::string> kMhcTransient{"du", "dh_pre", "dh_post", "dh_res", "dres_logits", "x_coef"};
std::vector<TensorSpec> mhc_specs(std::int64_t N, std::int64_t n, std::int64_t C, DType t) {
  const std::int64_t K = n * n + 2 * n;
  std::vector<TensorSpec> specs;
  append(specs, t, Shape{N, n, C}, {"x"});
  append(specs, t, Shape{N, C}, {"y", "du"});
  append(specs, t, Shape{N}, {"rstd", "x_coef"});
  append(specs, t, Shape{N, n}, {"h_pre", "h_post", "dh_pre", "dh_post"});
  append(specs, t, Shape{N, n, n}, {"res_logits", "h_res", "dh_res", "dres_logits"});
  append(specs, t, Shape{N, K}, {"proj", "dtilde"});
  return specs;
}

}  // namespace

std::vector<TensorSpec> connection_activation_specs(const config::Config& cfg, DType dtype, std::int64_t batch) {
  const std::int64_t N = batch * cfg.model.seq_len, n = cfg.residual.n_streams, C = cfg.model.d_model;
  switch (cfg.residual.type) {
    case config::ResidualType::residual: return {};
    case config::ResidualType::hc: return hc_specs(N, n, C, dtype);
    case config::ResidualType::mhc: return mhc_specs(N, n, C, dtype);
  }
  MHC_CHECK(false, ConfigError, "unknown residual.type");
  return {};
}

std::vector<std::string> connection_transient_entries(const config::Config& cfg) {
  switch (cfg.residual.type) {
    case config::ResidualType::residual: return {};
    case config::ResidualType::hc: return kHcTransient;
    case config::ResidualType::mhc: return kMhcTransient;
  }
  MHC_CHECK(false, ConfigError, "unknown residual.type");
  return {};
}

// ---- residual --------------------------------------------------------------------------------------------------

ResidualConnection::ResidualConnection(const config::Config& cfg, const ParameterStore& store,
                                       const std::string& prefix)
    : Connection(cfg, prefix, 1, store.device()), dtype_(store.dtype()) {
  MHC_CHECK(cfg.residual.n_streams == 1, ConfigError, "residual connection ", prefix,
            ": residual.n_streams must be 1, got ", cfg.residual.n_streams);
}

std::vector<TensorSpec> ResidualConnection::activation_specs(std::int64_t) const { return {}; }

// F writes straight into x_out, then x_out += x_in.
void ResidualConnection::forward(const LayerContext& ctx, Tensor x_in, Tensor x_out, Sublayer& f) {
  check_streams(x_in, dtype_, "residual forward x_in");
  check_streams(x_out, dtype_, "residual forward x_out");
  MHC_CHECK(x_in.data != x_out.data, ShapeError, "residual forward: x_out must not alias x_in");
  const Tensor x = single_stream(x_in), y = single_stream(x_out);
  f.forward(ctx.sublayer, x, y);
  ops::axpby(y, 1.0f, y, 1.0f, x);
}

// dx_in = dx_out + F.backward_input(dx_out).
void ResidualConnection::backward_input(const LayerContext& ctx, Tensor dx_out, Tensor dx_in, Sublayer& f) {
  check_streams(dx_out, dtype_, "residual backward dx_out");
  check_streams(dx_in, dtype_, "residual backward dx_in");
  MHC_CHECK(dx_in.data != dx_out.data, ShapeError, "residual backward: dx_in must not alias dx_out");
  const Tensor dy = single_stream(dx_out), dx = single_stream(dx_in);
  f.backward_input(ctx.sublayer, dy, dx);
  ops::axpby(dx, 1.0f, dx, 1.0f, dy);
}

void ResidualConnection::backward_weight(const LayerContext& ctx, Sublayer& f) { f.backward_weight(ctx.sublayer); }

void ResidualConnection::forward_from_f_output(const LayerContext&, Tensor, Tensor, Sublayer&) {
  MHC_CHECK(false, ConfigError, "residual connection ", prefix_, ": keeps no state, nothing to recompute");
}

// ---- shared by hc and mhc --------------------------------------------------------------------------------------

MixingConnection::MixingConnection(const config::Config& cfg, const ParameterStore& store, std::string prefix,
                                   const char* kind)
    : Connection(cfg, std::move(prefix), cfg.residual.n_streams, store.device()), store_(store), kind_(kind) {}

void MixingConnection::prepare_forward(const LayerContext& ctx, Tensor x_in, Tensor x_out, bool save,
                                       const char* phase) {
  const ActivationContext& c = ctx.connection;
  const std::string what = kind_ + " " + phase + " x_in/x_out";
  check_streams(x_in, store_.dtype(), what.c_str());
  if (x_out.defined()) check_streams(x_out, store_.dtype(), what.c_str());
  expect_shape(x_in, c["x"].shape, what.c_str());
  if (save && x_in.data != c["x"].data) copy_tensor(c["x"], x_in);
  coefficients_forward(c, x_in, Sublayer::input(ctx.sublayer));
}

// F reads u from and writes y straight into the slots the backward reads them from.
void MixingConnection::forward(const LayerContext& ctx, Tensor x_in, Tensor x_out, Sublayer& f) {
  const ActivationContext& c = ctx.connection;
  MHC_CHECK(x_out.defined(), ShapeError, kind_, " forward: x_out is undefined");
  prepare_forward(ctx, x_in, x_out, ctx.saves_input, "forward");
  f.forward(ctx.sublayer, Sublayer::input(ctx.sublayer), c["y"]);
  ops::stream_post_res_forward(x_out, x_in, c["y"], c["h_res"], c["h_post"]);
}

void MixingConnection::forward_from_f_output(const LayerContext& ctx, Tensor x_in, Tensor x_out, Sublayer& f) {
  const ActivationContext& c = ctx.connection;
  prepare_forward(ctx, x_in, x_out, /*save=*/true, "recompute");
  f.rebuild_input(ctx.sublayer);
  if (x_out.defined()) ops::stream_post_res_forward(x_out, x_in, c["y"], c["h_res"], c["h_post"]);
}

void MixingConnection::backward_input(const LayerContext& ctx, Tensor dx_out, Tensor dx_in, Sublayer& f) {
  const ActivationContext& c = ctx.connection;
  const std::string out_name = kind_ + " backward dx_out", in_name = kind_ + " backward dx_in";
  check_streams(dx_out, store_.dtype(), out_name.c_str());
  check_streams(dx_in, store_.dtype(), in_name.c_str());
  expect_shape(dx_out, c["x"].shape, out_name.c_str());
  expect_shape(dx_in, c["x"].shape, in_name.c_str());
  MHC_CHECK(dx_in.data != dx_out.data, ShapeError, kind_, " backward: dx_in must not alias dx_out");
  streams_backward_input(ctx, dx_out, dx_in, f);
}

void MixingConnection::backward_weight(const LayerContext& ctx, Sublayer& f) {
  f.backward_weight(ctx.sublayer);
  coefficients_backward_weight(ctx.connection);
}

// ---- hc --------------------------------------------------------------------------------------------------------

HcConnection::HcConnection(const config::Config& cfg, const ParameterStore& store, const std::string& prefix)
    : MixingConnection(cfg, store, prefix, "hc") {}

std::vector<TensorSpec> HcConnection::activation_specs(std::int64_t batch) const {
  return hc_specs(batch * seq_len_, n_, d_model_, store_.dtype());
}

void HcConnection::coefficients_forward(const ActivationContext& c, Tensor x, Tensor u) {
  const Shape flat{x.dim(0) * n_, d_model_};
  ops::rmsnorm_forward(c["xb"].reshape(flat), c["rstd_b"], x.reshape(flat), param("norm.weight"), kNormEps);
  ops::hc_coeffs_forward(c["h_pre"], c["h_post"], c["h_res"], c["proj"], c["xb"], param("w"), param("s"),
                         param("am"), param("ar"), param("bb"));
  ops::stream_pre_apply_forward(u, x, c["h_pre"]);
}

// x feeds three consumers: the post+res mix, the pre-apply and the coefficients. The coefficient path writes dx_in
// first; stream_mix_backward then adds the stream terms in one pass over dx_in.
void HcConnection::streams_backward_input(const LayerContext& ctx, Tensor dx_out, Tensor dx_in, Sublayer& f) {
  const ActivationContext& c = ctx.connection;
  const Tensor x = c["x"], dy = Sublayer::output_grad(ctx.sublayer);
  ops::stream_post_res_backward(dy, c["dh_res"], c["dh_post"], dx_out, x, c["y"], c["h_post"]);
  f.backward_input(ctx.sublayer, dy, c["du"]);
  ops::stream_pre_apply_backward(c["dh_pre"], c["du"], x);
  ops::hc_coeffs_backward_input(c["dxb"], c["dproj"], c["dh_pre"], c["dh_post"], c["dh_res"], c["proj"], param("w"),
                                param("s"));
  const Shape flat{x.dim(0) * n_, d_model_};
  ops::rmsnorm_backward_input(dx_in.reshape(flat), c["dxb"].reshape(flat), x.reshape(flat), param("norm.weight"),
                              c["rstd_b"]);
  ops::stream_mix_backward(dx_in, dx_out, c["du"], c["h_res"], c["h_pre"], x, Tensor());  // += H_res^T g + h_pre du
}

void HcConnection::coefficients_backward_weight(const ActivationContext& c) {
  ops::hc_coeffs_backward_weight(grad("w"), grad("s"), grad("am"), grad("ar"), grad("bb"), c["dproj"], c["dh_pre"],
                                 c["dh_post"], c["dh_res"], c["xb"], c["proj"]);
  const Shape flat{c["x"].dim(0) * n_, d_model_};
  ops::rmsnorm_backward_weight(grad("norm.weight"), c["dxb"].reshape(flat), c["x"].reshape(flat), c["rstd_b"]);
}

// ---- mhc -------------------------------------------------------------------------------------------------------

MhcConnection::MhcConnection(const config::Config& cfg, const ParameterStore& store, const std::string& prefix)
    : MixingConnection(cfg, store, prefix, "mhc"), sinkhorn_iters_(static_cast<int>(cfg.residual.sinkhorn_iters)) {}

std::vector<TensorSpec> MhcConnection::activation_specs(std::int64_t batch) const {
  return mhc_specs(batch * seq_len_, n_, d_model_, store_.dtype());
}

void MhcConnection::coefficients_forward(const ActivationContext& c, Tensor x, Tensor u) {
  ops::mhc_stream_forward({u, c["h_pre"], c["h_post"], c["res_logits"], c["h_res"], c["proj"], c["rstd"], x,
                           param("phi"), param("alpha"), param("bias")},
                          sinkhorn_iters_);
}

// dy first (F's backward needs it), then everything else in one op (ops/mhc_stream.hpp), which reads x and dx_out
// once for all of the coefficient gradients and dx_in.
void MhcConnection::streams_backward_input(const LayerContext& ctx, Tensor dx_out, Tensor dx_in, Sublayer& f) {
  const ActivationContext& c = ctx.connection;
  const Tensor dy = Sublayer::output_grad(ctx.sublayer);
  ops::stream_post_res_backward(dy, Tensor(), Tensor(), dx_out, c["x"], c["y"], c["h_post"]);
  f.backward_input(ctx.sublayer, dy, c["du"]);
  ops::mhc_stream_backward({dx_in, c["x_coef"], c["dtilde"], c["dh_pre"], c["dh_post"], c["dh_res"],
                            c["dres_logits"], dx_out, c["du"], c["x"], c["y"], c["h_pre"], c["h_post"], c["h_res"],
                            c["res_logits"], c["proj"], c["rstd"], param("phi"), param("alpha")},
                           sinkhorn_iters_);
}

void MhcConnection::coefficients_backward_weight(const ActivationContext& c) {
  ops::mhc_coeffs_backward_weight(grad("phi"), grad("alpha"), grad("bias"), c["dtilde"], c["x"], c["proj"],
                                  c["rstd"], param("alpha"));
}

std::unique_ptr<Connection> make_connection(const config::Config& cfg, const ParameterStore& store,
                                            const std::string& prefix) {
  switch (cfg.residual.type) {
    case config::ResidualType::residual: return std::make_unique<ResidualConnection>(cfg, store, prefix);
    case config::ResidualType::hc: return std::make_unique<HcConnection>(cfg, store, prefix);
    case config::ResidualType::mhc: return std::make_unique<MhcConnection>(cfg, store, prefix);
  }
  MHC_CHECK(false, ConfigError, "unknown residual.type");
  return nullptr;
}

}  // namespace mhc::model
