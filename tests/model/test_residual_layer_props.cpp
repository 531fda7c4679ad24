// Properties of the residual layers: B/W split across interleaved micro-batches, HC n=1 == residual, mHC at
// phi = 0 vs the residual layer, f32 vs f64, shape errors.
#include <catch2/catch.hpp>

#include <cmath>

#include "core/rng.hpp"
#include "model/residual_layer.hpp"
#include "model_test_util.hpp"
#include "ops/elementwise.hpp"
#include "support/gradcheck.hpp"

using namespace mhc;
using namespace mhc::model;
using mhc::test::max_abs_diff;
using mhc::test::random_tensor;

namespace {
constexpr std::int64_t kBatch = 2;
Shape streams(const config::Config& cfg) { return Shape{kBatch * cfg.model.seq_len, cfg.residual.n_streams, cfg.model.d_model}; }
}  // namespace

TEST_CASE("B and W of two interleaved micro-batches give the sum of the separate gradients", "[model]") {
  for (const auto kind : {SublayerKind::attention, SublayerKind::mlp}) {
    const config::Config cfg = test::tiny_config(model::connection_kind("mhc"), 4);
    ParameterStore store(model_parameter_specs(cfg), cfg, DType::f64, 5);
    ResidualLayer layer(cfg, store, 0, kind);
    const Shape xs = streams(cfg);
    HostTensor x0 = random_tensor(xs, "x0"), x1 = random_tensor(xs, "x1"), d0 = random_tensor(xs, "d0"),
               d1 = random_tensor(xs, "d1");
    HostTensor y(DType::f64, xs), dxa0(DType::f64, xs), dxa1(DType::f64, xs), dxb0(DType::f64, xs),
        dxb1(DType::f64, xs);
    // Sequential: F0 B0 W0, F1 B1 W1.
    const LayerContext c0 = layer.make_context(kBatch), c1 = layer.make_context(kBatch);
    layer.forward(c0, x0, y);
    layer.backward_input(c0, d0, dxa0);
    layer.backward_weight(c0);
    layer.forward(c1, x1, y);
    layer.backward_input(c1, d1, dxa1);
    layer.backward_weight(c1);
    std::vector<HostTensor> sequential;
    for (const auto& s : store.specs()) sequential.push_back(test::host_copy(store.grad(s.name)));
    // Interleaved (zero-bubble style): F0 F1 B1 B0 W1 W0 with the W passes deferred.
    store.zero_grads();
    layer.forward(c0, x0, y);
    layer.forward(c1, x1, y);
    layer.backward_input(c1, d1, dxb1);
    layer.backward_input(c0, d0, dxb0);
    layer.backward_weight(c1);
    layer.backward_weight(c0);
    CHECK(test::bitwise_equal(dxa0, dxb0));
    CHECK(test::bitwise_equal(dxa1, dxb1));
    for (std::size_t i = 0; i < sequential.size(); ++i) {
      INFO(store.specs()[i].name);
      CHECK(max_abs_diff(sequential[i], store.grad(store.specs()[i].name)) <= 1e-13);
    }
    CHECK(layer.activation_bytes(kBatch) == c0.bytes_held());
  }
}

TEST_CASE("HC with n = 1 at init equals the residual layer", "[model]") {
  for (const auto kind : {SublayerKind::attention, SublayerKind::mlp}) {
    const config::Config cr = test::tiny_config(model::connection_kind("residual"), 1);
    const config::Config ch = test::tiny_config(model::connection_kind("hc"), 1);
    ParameterStore sr(model_parameter_specs(cr), cr, DType::f64, 9), sh(model_parameter_specs(ch), ch, DType::f64, 9);
    ResidualLayer lr(cr, sr, 0, kind), lh(ch, sh, 0, kind);
    const Shape xs = streams(cr);
    HostTensor x = random_tensor(xs, "x"), d = random_tensor(xs, "d");
    HostTensor yr(DType::f64, xs), yh(DType::f64, xs), dxr(DType::f64, xs), dxh(DType::f64, xs);
    const LayerContext cxr = lr.make_context(kBatch), cxh = lh.make_context(kBatch);
    lr.forward(cxr, x, yr);
    lh.forward(cxh, x, yh);
    CHECK(test::bitwise_equal(yr, yh));  // H_pre = H_post = H_res = 1 exactly: u = x, x_out = x + F(x)
    lr.backward_input(cxr, d, dxr);
    lh.backward_input(cxh, d, dxh);
    lr.backward_weight(cxr);
    lh.backward_weight(cxh);
    CHECK(max_abs_diff(dxr, dxh) <= 1e-14);  // the coefficient path contributes dproj w^T = 0 (w = 0)
    for (const auto& s : sr.specs())
      if (s.block == 0) {
        INFO(s.name);
        CHECK(max_abs_diff(sr.grad(s.name), sh.grad(s.name)) <= 1e-14);
      }
  }
}

// With phi = 0 and b_post = 0: H_pre = sigmoid(b_pre), H_post = 1, H_res = Sinkhorn(b_res) for every token. With n
// identical input streams h: u = s h, s = sum_i H_pre[i], and x_out[i] = rowsum_i(H_res) h + F(u). Exactly (up to
// f64 rounding): x_out[i] - rowsum_i(H_res) h = residual_layer(u) - u. Approximately (spec 2.3):
// x_out[i] = residual_layer(h) up to the RMSNorm eps and the Sinkhorn eps (relative ~1e-5).
TEST_CASE("mHC with phi = 0 and identical streams relates to the residual layer as spec 2.3 says", "[model]") {
  for (const auto kind : {SublayerKind::attention, SublayerKind::mlp}) {
    config::Config cm = test::tiny_config(model::connection_kind("mhc"), 4);
    cm.residual.phi_init = ops::MhcInit::Phi::zero;
    const config::Config cr = test::tiny_config(model::connection_kind("residual"), 1);
    ParameterStore sm(model_parameter_specs(cm), cm, DType::f64, 4), sr(model_parameter_specs(cr), cr, DType::f64, 4);
    ResidualLayer lm(cm, sm, 0, kind), lr(cr, sr, 0, kind);
    const std::int64_t N = kBatch * cm.model.seq_len, n = 4, C = cm.model.d_model;
    const HostTensor h = random_tensor(Shape{N, 1, C}, "h");
    HostTensor x(DType::f64, Shape{N, n, C});
    for (std::int64_t t = 0; t < N; ++t)
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t c = 0; c < C; ++c) x.set((t * n + i) * C + c, h.get(t * C + c));
    HostTensor xm(DType::f64, Shape{N, n, C}), yu(DType::f64, Shape{N, 1, C}), yh(DType::f64, Shape{N, 1, C});
    const LayerContext ctx = lm.make_context(kBatch);
    lm.forward(ctx, x, xm);
    const HostTensor u = test::host_copy(ctx.sublayer["u"].reshape(Shape{N, 1, C}));
    const HostTensor h_res = test::host_copy(ctx.connection["h_res"]);
    lr.forward(lr.make_context(kBatch), u, yu);
    lr.forward(lr.make_context(kBatch), h, yh);
    double exact = 0, approx = 0, scale = 0;
    for (std::int64_t t = 0; t < N; ++t)
      for (std::int64_t i = 0; i < n; ++i) {
        double rowsum = 0;
        for (std::int64_t j = 0; j < n; ++j) rowsum += h_res.get((t * n + i) * n + j);
        CHECK(std::fabs(rowsum - 1.0) <= 1e-5);
        for (std::int64_t c = 0; c < C; ++c) {
          const double out = xm.get((t * n + i) * C + c), hc = h.get(t * C + c);
          exact = std::fmax(exact, std::fabs((out - rowsum * hc) - (yu.get(t * C + c) - u.get(t * C + c))));
          approx = std::fmax(approx, std::fabs(out - yh.get(t * C + c)));
          scale = std::fmax(scale, std::fabs(yh.get(t * C + c)));
        }
      }
    CHECK(exact <= 1e-13);
    CHECK(approx <= 1e-5 * scale);
  }
}

TEST_CASE("residual layers in f32 agree with f64", "[model]") {
  for (const auto type : model::connection_kinds())
    for (const auto kind : {SublayerKind::attention, SublayerKind::mlp}) {
      const config::Config cfg = test::tiny_config(type, type->default_streams());
      ParameterStore s64(model_parameter_specs(cfg), cfg, DType::f64, 2), s32(model_parameter_specs(cfg), cfg, DType::f32, 2);
      ResidualLayer l64(cfg, s64, 0, kind), l32(cfg, s32, 0, kind);
      const Shape xs = streams(cfg);
      const HostTensor x = random_tensor(xs, "x"), d = random_tensor(xs, "d");
      const HostTensor x32 = random_tensor(xs, "x", 1.0, DType::f32), d32 = random_tensor(xs, "d", 1.0, DType::f32);
      HostTensor y64(DType::f64, xs), y32(DType::f32, xs), dx64(DType::f64, xs), dx32(DType::f32, xs);
      const LayerContext c64 = l64.make_context(kBatch), c32 = l32.make_context(kBatch);
      l64.forward(c64, x, y64);
      l32.forward(c32, x32, y32);
      l64.backward_input(c64, d, dx64);
      l32.backward_input(c32, d32, dx32);
      INFO(type->name());
      CHECK(max_abs_diff(y64, y32) <= 1e-5);
      CHECK(max_abs_diff(dx64, dx32) <= 1e-4);
    }
}

TEST_CASE("residual layers reject bad shapes with ShapeError naming the argument", "[model]") {
  const config::Config cfg = test::tiny_config(model::connection_kind("mhc"), 4);
  ParameterStore store(model_parameter_specs(cfg), cfg, DType::f64, 1);
  ResidualLayer layer(cfg, store, 0, SublayerKind::mlp);
  const LayerContext ctx = layer.make_context(kBatch);
  HostTensor x(DType::f64, Shape{6, 3, 8}), y(DType::f64, Shape{6, 4, 8}), good(DType::f64, Shape{6, 4, 8});
  CHECK_THROWS_WITH(layer.forward(ctx, x, y), Catch::Contains("x_in"));
  HostTensor one_seq(DType::f64, Shape{3, 4, 8});  // the context was made for 2 sequences
  CHECK_THROWS_AS(layer.forward(ctx, one_seq, good), ShapeError);
  HostTensor f32(DType::f32, Shape{6, 4, 8});
  CHECK_THROWS_AS(layer.forward(ctx, f32, y), ShapeError);
}
