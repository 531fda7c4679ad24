// The connection base: context, argument checks, and the n-stream update shared by the mixing connections.
#include "model/connection.hpp"

#include "core/copy.hpp"
#include "ops/stream_mix.hpp"

namespace mhc::model {

Connection::Connection(const config::Config& cfg, std::string prefix, std::int64_t n, Device device)
    : prefix_(std::move(prefix)), n_(n), seq_len_(cfg.model.seq_len), d_model_(cfg.model.d_model), device_(device) {}

ActivationContext Connection::make_context(std::int64_t batch, const TensorViews& views) const {
  return ActivationContext(prefix_, activation_layout(batch), views, device_);
}

void Connection::check_streams(Tensor t, DType dtype, const char* what) const {
  expect_rank(t, 3, what);
  MHC_CHECK(t.dim(0) > 0 && t.dim(0) % seq_len_ == 0 && t.dim(1) == n_ && t.dim(2) == d_model_, ShapeError, what,
            " must have shape (B*T, ", n_, ", ", d_model_, ") with T = ", seq_len_, ", got ", t.describe());
  expect_dtype(t, dtype, what);
}

// ---- the n-stream connections ---------------------------------------------------------------------------------

MixingConnection::MixingConnection(const config::Config& cfg, const ParameterStore& store, std::string prefix,
                                   const char* kind)
    : Connection(cfg, std::move(prefix), cfg.residual.n_streams, store.device()), store_(store), kind_(kind) {}

void MixingConnection::prepare_forward(const LayerContext& ctx, Tensor x_in, Tensor x_out, bool save,
                                       const char* phase) {
  const StreamState& s = ctx.connection.state<StreamState>();
  const std::string what = kind_ + " " + phase + " x_in/x_out";
  check_streams(x_in, store_.dtype(), what.c_str());
  if (x_out.defined()) check_streams(x_out, store_.dtype(), what.c_str());
  expect_shape(x_in, s.x.shape, what.c_str());
  if (save && x_in.data != s.x.data) copy_tensor(s.x, x_in);
  coefficients_forward(ctx.connection, x_in, Sublayer::input(ctx.sublayer));
}

// F reads u from and writes y straight into the slots the backward reads them from.
void MixingConnection::forward(const LayerContext& ctx, Tensor x_in, Tensor x_out, Sublayer& f) {
  const StreamState& s = ctx.connection.state<StreamState>();
  MHC_CHECK(x_out.defined(), ShapeError, kind_, " forward: x_out is undefined");
  prepare_forward(ctx, x_in, x_out, ctx.saves_input, "forward");
  f.forward(ctx.sublayer, Sublayer::input(ctx.sublayer), s.y);
  ops::stream_post_res_forward(x_out, x_in, s.y, s.h_res, s.h_post);
}

void MixingConnection::forward_from_f_output(const LayerContext& ctx, Tensor x_in, Tensor x_out, Sublayer& f) {
  const StreamState& s = ctx.connection.state<StreamState>();
  prepare_forward(ctx, x_in, x_out, /*save=*/true, "recompute");
  f.rebuild_input(ctx.sublayer);
  if (x_out.defined()) ops::stream_post_res_forward(x_out, x_in, s.y, s.h_res, s.h_post);
}

void MixingConnection::backward_input(const LayerContext& ctx, Tensor dx_out, Tensor dx_in, Sublayer& f) {
  const Shape& x_shape = ctx.connection.state<StreamState>().x.shape;
  const std::string out_name = kind_ + " backward dx_out", in_name = kind_ + " backward dx_in";
  check_streams(dx_out, store_.dtype(), out_name.c_str());
  check_streams(dx_in, store_.dtype(), in_name.c_str());
  expect_shape(dx_out, x_shape, out_name.c_str());
  expect_shape(dx_in, x_shape, in_name.c_str());
  MHC_CHECK(dx_in.data != dx_out.data, ShapeError, kind_, " backward: dx_in must not alias dx_out");
  streams_backward_input(ctx, dx_out, dx_in, f);
}

void MixingConnection::backward_weight(const LayerContext& ctx, Sublayer& f) {
  f.backward_weight(ctx.sublayer);
  coefficients_backward_weight(ctx.connection);
}

}  // namespace mhc::model
