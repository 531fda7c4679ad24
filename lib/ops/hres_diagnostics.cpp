// H_res stability diagnostics: single-layer and composite gains and the distance from the identity, in double.
#include "ops/hres_diagnostics.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "ops/dispatch.hpp"

namespace mhc::ops {

namespace {

// Running mean and NaN-propagating max of one per-token quantity.
class TokenAccumulator {
 public:
  void add(double v) {
    sum_ += v;
    if (!(v <= max_)) max_ = v;  // a NaN replaces (and then keeps) the max
  }
  TokenStats stats(std::int64_t count) const { return TokenStats{sum_ / static_cast<double>(count), max_}; }

 private:
  double sum_ = 0;
  double max_ = 0;  // every gain is >= 0
};

// Largest absolute row sum (forward gain) of the row-major n x n matrix m.
double forward_gain(const double* m, std::int64_t n) {
  double g = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    double row = 0;
    for (std::int64_t j = 0; j < n; ++j) row += std::fabs(m[i * n + j]);
    if (!(row <= g)) g = row;
  }
  return g;
}

// Largest absolute column sum (backward gain) of the row-major n x n matrix m.
double backward_gain(const double* m, std::int64_t n) {
  double g = 0;
  for (std::int64_t j = 0; j < n; ++j) {
    double col = 0;
    for (std::int64_t i = 0; i < n; ++i) col += std::fabs(m[i * n + j]);
    if (!(col <= g)) g = col;
  }
  return g;
}

double identity_distance(const double* m, std::int64_t n) {
  double sum_sq = 0;
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      const double e = m[i * n + j] - (i == j ? 1.0 : 0.0);
      sum_sq += e * e;
    }
  return std::sqrt(sum_sq);
}

// The n x n matrices of a (N, n, n) f32 or f64 tensor, converted to double.
std::vector<double> to_double(const Tensor& h) {
  std::vector<double> out(static_cast<std::size_t>(h.numel()));
  dispatch_cpu_float(h.dtype, "hres_diagnostics", [&](auto zero) {
    using T = decltype(zero);
    const T* src = h.ptr<T>();
    for (std::size_t k = 0; k < out.size(); ++k) out[k] = static_cast<double>(src[k]);
  });
  return out;
}

}  // namespace

HresDiagnostics hres_diagnostics(const std::vector<Tensor>& h_res) {
  MHC_CHECK(!h_res.empty(), ShapeError, "hres_diagnostics h_res: needs at least one layer");
  const Tensor& first = h_res.front();
  expect_cpu_float(first, "hres_diagnostics h_res[0]");
  expect_rank(first, 3, "hres_diagnostics h_res[0]");
  const std::int64_t N = first.dim(0), n = first.dim(1), nn = n * n;
  MHC_CHECK(N >= 1 && n >= 1 && first.dim(2) == n, ShapeError,
            "hres_diagnostics h_res[0] must have shape (N, n, n) with N, n >= 1, got ", first.describe());

  HresDiagnostics out;
  out.tokens = N;
  out.streams = n;
  // P(t) for every token, updated layer by layer: P <- H_l P, starting from the identity.
  std::vector<double> composite(static_cast<std::size_t>(N * nn), 0.0), next(static_cast<std::size_t>(nn));
  for (std::int64_t t = 0; t < N; ++t)
    for (std::int64_t i = 0; i < n; ++i) composite[static_cast<std::size_t>(t * nn + i * n + i)] = 1.0;

  double distance_sum = 0;
  for (std::size_t l = 0; l < h_res.size(); ++l) {
    const std::string name = "hres_diagnostics h_res[" + std::to_string(l) + "]";
    expect_cpu_float(h_res[l], name.c_str());
    expect_shape(h_res[l], first.shape, name.c_str());
    const std::vector<double> h = to_double(h_res[l]);
    TokenAccumulator fwd, bwd;
    double layer_distance = 0;
    for (std::int64_t t = 0; t < N; ++t) {
      const double* m = h.data() + t * nn;
      fwd.add(forward_gain(m, n));
      bwd.add(backward_gain(m, n));
      layer_distance += identity_distance(m, n);
      double* p = composite.data() + t * nn;
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < n; ++j) {
          double s = 0;
          for (std::int64_t k = 0; k < n; ++k) s += m[i * n + k] * p[k * n + j];
          next[static_cast<std::size_t>(i * n + j)] = s;
        }
      std::copy(next.begin(), next.end(), p);
    }
    out.layers.push_back(LayerHresDiagnostics{fwd.stats(N), bwd.stats(N), layer_distance / static_cast<double>(N)});
    distance_sum += layer_distance;
  }

  TokenAccumulator fwd, bwd;
  for (std::int64_t t = 0; t < N; ++t) {
    fwd.add(forward_gain(composite.data() + t * nn, n));
    bwd.add(backward_gain(composite.data() + t * nn, n));
  }
  out.composite_forward_gain = fwd.stats(N);
  out.composite_backward_gain = bwd.stats(N);
  out.identity_distance = distance_sum / static_cast<double>(N * static_cast<std::int64_t>(h_res.size()));
  return out;
}

}  // namespace mhc::ops
