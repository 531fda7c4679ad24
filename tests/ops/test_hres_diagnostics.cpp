// Tests of the H_res stability diagnostics: identity, hand-made gains, doubly stochastic and growing composites, order.
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "core/rng.hpp"
#include "ops/hres_diagnostics.hpp"
#include "support/op_testing.hpp"

using namespace mhc;

namespace {

// A (N, n, n) tensor holding the given per-token matrices (row-major, n*n values each).
HostTensor matrices(const std::vector<std::vector<double>>& per_token, std::int64_t n, DType dtype = DType::f64) {
  const auto N = static_cast<std::int64_t>(per_token.size());
  HostTensor h(dtype, Shape{N, n, n});
  for (std::int64_t t = 0; t < N; ++t)
    for (std::int64_t k = 0; k < n * n; ++k) h.set(t * n * n + k, per_token[static_cast<std::size_t>(t)][k]);
  return h;
}

std::vector<Tensor> views(const std::vector<HostTensor>& layers) {
  std::vector<Tensor> v;
  for (const HostTensor& h : layers) v.push_back(h.view());
  return v;
}

std::vector<double> identity(std::int64_t n) {
  std::vector<double> m(static_cast<std::size_t>(n * n), 0.0);
  for (std::int64_t i = 0; i < n; ++i) m[static_cast<std::size_t>(i * n + i)] = 1.0;
  return m;
}

// (N, n, n) doubly stochastic matrices: random convex combinations of the n cyclic-shift permutations (Birkhoff).
HostTensor doubly_stochastic(std::int64_t N, std::int64_t n, const std::string& name) {
  HostTensor u(DType::f64, Shape{N, n});
  fill_uniform(u, 5, name, 0.1, 1.0);
  HostTensor h(DType::f64, Shape{N, n, n});
  for (std::int64_t t = 0; t < N; ++t) {
    double total = 0;
    for (std::int64_t s = 0; s < n; ++s) total += u.get(t * n + s);
    for (std::int64_t s = 0; s < n; ++s)  // shift s sends stream j to stream (j + s) mod n
      for (std::int64_t j = 0; j < n; ++j) h.set((t * n + (j + s) % n) * n + j, u.get(t * n + s) / total);
  }
  return h;
}

}  // namespace

TEST_CASE("hres diagnostics: identity matrices have gains exactly 1 and distance 0", "[cpu][diagnostics]") {
  for (const DType dtype : {DType::f64, DType::f32}) {
    const std::int64_t n = 4;
    std::vector<HostTensor> layers;
    for (int l = 0; l < 6; ++l) layers.push_back(matrices({identity(n), identity(n), identity(n)}, n, dtype));
    const ops::HresDiagnostics d = ops::hres_diagnostics(views(layers));
    CHECK(d.tokens == 3);
    CHECK(d.streams == n);
    REQUIRE(d.layers.size() == 6);
    for (const ops::LayerHresDiagnostics& l : d.layers) {
      CHECK(l.forward_gain.mean == 1.0);
      CHECK(l.forward_gain.max == 1.0);
      CHECK(l.backward_gain.mean == 1.0);
      CHECK(l.backward_gain.max == 1.0);
      CHECK(l.identity_distance == 0.0);
    }
    CHECK(d.composite_forward_gain.mean == 1.0);
    CHECK(d.composite_forward_gain.max == 1.0);
    CHECK(d.composite_backward_gain.mean == 1.0);
    CHECK(d.composite_backward_gain.max == 1.0);
    CHECK(d.identity_distance == 0.0);
  }
}

TEST_CASE("hres diagnostics: a hand-made 2x2 example", "[cpu][diagnostics]") {
  // Token 0: H = [[0.5, -1.5], [2, 0.25]]: |row| sums 2, 2.25; |column| sums 2.5, 1.75;
  // H - I = [[-0.5, -1.5], [2, -0.75]], ||H - I||_F^2 = 0.25 + 2.25 + 4 + 0.5625 = 7.0625.
  // Token 1: H = I (gains 1, distance 0).
  const HostTensor h = matrices({{0.5, -1.5, 2.0, 0.25}, identity(2)}, 2);
  const ops::HresDiagnostics d = ops::hres_diagnostics({h.view()});
  REQUIRE(d.layers.size() == 1);
  const ops::LayerHresDiagnostics& l = d.layers[0];
  CHECK(l.forward_gain.mean == (2.25 + 1.0) / 2);
  CHECK(l.forward_gain.max == 2.25);
  CHECK(l.backward_gain.mean == (2.5 + 1.0) / 2);
  CHECK(l.backward_gain.max == 2.5);
  CHECK(l.identity_distance == Approx(std::sqrt(7.0625) / 2).epsilon(1e-15));
  CHECK(d.identity_distance == l.identity_distance);
  // One layer: the composite is the layer itself.
  CHECK(d.composite_forward_gain.mean == l.forward_gain.mean);
  CHECK(d.composite_forward_gain.max == l.forward_gain.max);
  CHECK(d.composite_backward_gain.mean == l.backward_gain.mean);
  CHECK(d.composite_backward_gain.max == l.backward_gain.max);
}

TEST_CASE("hres diagnostics: the composite is H_{L-1} ... H_0 (layer 0 applied first)", "[cpu][diagnostics]") {
  // A = [[1, 2], [0, 1]] (layer 0), B = diag(1, 3) (layer 1): B A = [[1, 2], [0, 3]] has gains fwd 3, bwd 5,
  // while the wrong order A B = [[1, 6], [0, 3]] would give fwd 7, bwd 9.
  const HostTensor a = matrices({{1, 2, 0, 1}}, 2), b = matrices({{1, 0, 0, 3}}, 2);
  const ops::HresDiagnostics ba = ops::hres_diagnostics({a.view(), b.view()});
  CHECK(ba.composite_forward_gain.mean == 3.0);
  CHECK(ba.composite_backward_gain.mean == 5.0);
  CHECK(ba.layers[0].forward_gain.mean == 3.0);  // layers are reported in the given order
  CHECK(ba.layers[1].forward_gain.mean == 3.0);
  CHECK(ba.layers[0].backward_gain.mean == 3.0);
  CHECK(ba.layers[1].backward_gain.mean == 3.0);
  const ops::HresDiagnostics ab = ops::hres_diagnostics({b.view(), a.view()});
  CHECK(ab.composite_forward_gain.mean == 7.0);
  CHECK(ab.composite_backward_gain.mean == 9.0);
  // Distances: ||A - I||_F = 2, ||B - I||_F = 2.
  CHECK(ba.layers[0].identity_distance == 2.0);
  CHECK(ba.layers[1].identity_distance == 2.0);
  CHECK(ba.identity_distance == 2.0);
}

TEST_CASE("hres diagnostics: composites of doubly stochastic matrices keep gains ~1", "[cpu][diagnostics]") {
  const std::int64_t N = 16, n = 4;
  std::vector<HostTensor> layers;
  for (int l = 0; l < 48; ++l) layers.push_back(doubly_stochastic(N, n, "ds" + std::to_string(l)));
  const ops::HresDiagnostics d = ops::hres_diagnostics(views(layers));
  for (const ops::LayerHresDiagnostics& l : d.layers) {
    CHECK(l.forward_gain.max == Approx(1.0).epsilon(1e-14));
    CHECK(l.backward_gain.max == Approx(1.0).epsilon(1e-14));
    CHECK(l.identity_distance > 0.1);  // these matrices mix the streams
  }
  CHECK(d.composite_forward_gain.mean == Approx(1.0).epsilon(1e-12));
  CHECK(d.composite_forward_gain.max == Approx(1.0).epsilon(1e-12));
  CHECK(d.composite_backward_gain.mean == Approx(1.0).epsilon(1e-12));
  CHECK(d.composite_backward_gain.max == Approx(1.0).epsilon(1e-12));
}

TEST_CASE("hres diagnostics: unnormalised positive matrices give composite gains growing with depth",
          "[cpu][diagnostics]") {
  // HC-like: H = I + U(0, 0.3) entries; every row and column sum exceeds 1, so the product amplifies layer by layer.
  const std::int64_t N = 8, n = 4;
  std::vector<HostTensor> layers;
  for (int l = 0; l < 24; ++l) {
    HostTensor h(DType::f32, Shape{N, n, n});
    fill_uniform(h, 9, "hc" + std::to_string(l), 0.0, 0.3);
    for (std::int64_t t = 0; t < N; ++t)
      for (std::int64_t i = 0; i < n; ++i) h.set((t * n + i) * n + i, h.get((t * n + i) * n + i) + 1.0);
    layers.push_back(std::move(h));
  }
  double previous_fwd = 1.0, previous_bwd = 1.0;
  for (std::size_t depth = 1; depth <= layers.size(); ++depth) {
    const std::vector<Tensor> all = views(layers);
    const ops::HresDiagnostics d = ops::hres_diagnostics(std::vector<Tensor>(all.begin(), all.begin() + depth));
    INFO("depth " << depth);
    CHECK(d.layers.back().forward_gain.mean > 1.0);
    CHECK(d.layers.back().forward_gain.mean < 2.0);
    CHECK(d.composite_forward_gain.mean > previous_fwd);
    CHECK(d.composite_backward_gain.mean > previous_bwd);
    CHECK(d.composite_forward_gain.max >= d.composite_forward_gain.mean);
    previous_fwd = d.composite_forward_gain.mean;
    previous_bwd = d.composite_backward_gain.mean;
  }
  // Each row sum is about 1 + 4 * 0.15 = 1.6: over 24 layers the composite reaches ~1e5 (HC: ~3000 in the paper).
  CHECK(previous_fwd > 1000.0);
  CHECK(previous_bwd > 1000.0);
}

TEST_CASE("hres diagnostics: bad inputs throw ShapeError naming the layer", "[cpu][diagnostics]") {
  CHECK_SHAPE_ERROR(ops::hres_diagnostics({}), "at least one layer");
  const HostTensor good = matrices({identity(3), identity(3)}, 3);
  const HostTensor other_tokens = matrices({identity(3)}, 3);
  CHECK_SHAPE_ERROR(ops::hres_diagnostics({good.view(), other_tokens.view()}), "h_res[1]");
  const HostTensor not_square(DType::f64, Shape{2, 3, 4});
  CHECK_SHAPE_ERROR(ops::hres_diagnostics({not_square.view()}), "h_res[0]");
  const HostTensor rank2(DType::f64, Shape{3, 3});
  CHECK_SHAPE_ERROR(ops::hres_diagnostics({rank2.view()}), "h_res[0]");
  const HostTensor ints(DType::i32, Shape{2, 3, 3});
  CHECK_SHAPE_ERROR(ops::hres_diagnostics({good.view(), good.view(), ints.view()}), "h_res[2]");
  // f32 and f64 layers may be mixed.
  const HostTensor good32 = matrices({identity(3), identity(3)}, 3, DType::f32);
  CHECK(ops::hres_diagnostics({good.view(), good32.view()}).composite_forward_gain.mean == 1.0);
}
