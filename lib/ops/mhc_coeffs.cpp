// Checked entry points of the mHC coefficient ops and the parameter init; dispatch to the CPU code.
#include "ops/mhc_coeffs.hpp"

#include <cmath>
#include <vector>

#include "core/rng.hpp"
#include "ops/cpu/mhc_coeffs_cpu.hpp"
#include "ops/dispatch.hpp"

namespace mhc::ops {

namespace {

constexpr std::int64_t kMaxStreams = 8;

// Extents from the stream state x (N, n, C), after checking it.
cpu::MhcDims stream_dims(const Tensor& x, const char* op) {
  const std::string name = std::string(op) + " x";
  expect_cpu_float(x, name.c_str());
  expect_rank(x, 3, name.c_str());
  const cpu::MhcDims d{x.dim(0), x.dim(1), x.dim(2)};
  MHC_CHECK(d.n >= 1 && d.n <= kMaxStreams, ShapeError, name, ": the number of streams n = ", d.n, " must be in 1..",
            kMaxStreams, ", got ", x.describe());
  return d;
}

// One tensor argument of `op`: CPU float, the dtype of x, the expected shape; every message names the argument.
void expect_arg(const Tensor& t, const Shape& s, const Tensor& x, const char* op, const char* what) {
  const std::string name = std::string(op) + " " + what;
  expect_cpu_float(t, name.c_str());
  expect_same_dtype(t, x, name.c_str(), "x");
  expect_shape(t, s, name.c_str());
}

}  // namespace

void mhc_coeffs_forward(Tensor h_pre, Tensor h_post, Tensor res_logits, Tensor proj, Tensor rstd, Tensor x, Tensor phi,
                        Tensor alpha, Tensor bias) {
  const char* op = "mhc_coeffs_forward";
  const cpu::MhcDims d = stream_dims(x, op);
  const std::int64_t N = d.N, n = d.n, K = d.K();
  expect_arg(phi, Shape{n * d.C, K}, x, op, "phi");
  expect_arg(alpha, Shape{3}, x, op, "alpha");
  expect_arg(bias, Shape{K}, x, op, "bias");
  expect_arg(h_pre, Shape{N, n}, x, op, "h_pre");
  expect_arg(h_post, Shape{N, n}, x, op, "h_post");
  expect_arg(res_logits, Shape{N, n, n}, x, op, "res_logits");
  expect_arg(proj, Shape{N, K}, x, op, "proj");
  expect_arg(rstd, Shape{N}, x, op, "rstd");
  dispatch_cpu_float(x.dtype, op, [&](auto zero) {
    using T = decltype(zero);
    cpu::mhc_coeffs_forward<T>(h_pre.ptr<T>(), h_post.ptr<T>(), res_logits.ptr<T>(), proj.ptr<T>(), rstd.ptr<T>(),
                               x.ptr<T>(), phi.ptr<T>(), alpha.ptr<T>(), bias.ptr<T>(), d, static_cast<T>(kMhcRmsEps));
  });
}

void mhc_coeffs_backward_input(Tensor dx, Tensor dtilde, Tensor dh_pre, Tensor dh_post, Tensor dres_logits, Tensor x,
                               Tensor phi, Tensor alpha, Tensor h_pre, Tensor h_post, Tensor proj, Tensor rstd) {
  const char* op = "mhc_coeffs_backward_input";
  const cpu::MhcDims d = stream_dims(x, op);
  const std::int64_t N = d.N, n = d.n, K = d.K();
  expect_arg(dx, x.shape, x, op, "dx");
  expect_arg(dtilde, Shape{N, K}, x, op, "dtilde");
  expect_arg(dh_pre, Shape{N, n}, x, op, "dh_pre");
  expect_arg(dh_post, Shape{N, n}, x, op, "dh_post");
  expect_arg(dres_logits, Shape{N, n, n}, x, op, "dres_logits");
  expect_arg(phi, Shape{n * d.C, K}, x, op, "phi");
  expect_arg(alpha, Shape{3}, x, op, "alpha");
  expect_arg(h_pre, Shape{N, n}, x, op, "h_pre");
  expect_arg(h_post, Shape{N, n}, x, op, "h_post");
  expect_arg(proj, Shape{N, K}, x, op, "proj");
  expect_arg(rstd, Shape{N}, x, op, "rstd");
  dispatch_cpu_float(x.dtype, op, [&](auto zero) {
    using T = decltype(zero);
    cpu::mhc_coeffs_backward_input<T>(dx.ptr<T>(), dtilde.ptr<T>(), dh_pre.ptr<T>(), dh_post.ptr<T>(),
                                      dres_logits.ptr<T>(), x.ptr<T>(), phi.ptr<T>(), alpha.ptr<T>(), h_pre.ptr<T>(),
                                      h_post.ptr<T>(), proj.ptr<T>(), rstd.ptr<T>(), d);
  });
}

void mhc_coeffs_backward_weight(Tensor dphi, Tensor dalpha, Tensor dbias, Tensor dtilde, Tensor x, Tensor proj,
                                Tensor rstd, Tensor alpha) {
  const char* op = "mhc_coeffs_backward_weight";
  const cpu::MhcDims d = stream_dims(x, op);
  const std::int64_t N = d.N, K = d.K();
  expect_arg(dphi, Shape{d.n * d.C, K}, x, op, "dphi");
  expect_arg(dalpha, Shape{3}, x, op, "dalpha");
  expect_arg(dbias, Shape{K}, x, op, "dbias");
  expect_arg(dtilde, Shape{N, K}, x, op, "dtilde");
  expect_arg(proj, Shape{N, K}, x, op, "proj");
  expect_arg(rstd, Shape{N}, x, op, "rstd");
  expect_arg(alpha, Shape{3}, x, op, "alpha");
  dispatch_cpu_float(x.dtype, op, [&](auto zero) {
    using T = decltype(zero);
    cpu::mhc_coeffs_backward_weight<T>(dphi.ptr<T>(), dalpha.ptr<T>(), dbias.ptr<T>(), dtilde.ptr<T>(), x.ptr<T>(),
                                       proj.ptr<T>(), rstd.ptr<T>(), alpha.ptr<T>(), d);
  });
}

void mhc_init_parameters(Tensor phi, Tensor alpha, Tensor bias, int layer_index, const MhcInit& init,
                         std::uint64_t seed, const std::string& name_prefix) {
  const std::int64_t n = init.n, K = n * n + 2 * n;
  MHC_CHECK(n >= 1 && n <= kMaxStreams, ShapeError, "mhc_init_parameters: n = ", n, " must be in 1..", kMaxStreams);
  MHC_CHECK(layer_index >= 0, Error, "mhc_init_parameters: layer_index = ", layer_index, " must be >= 0");
  expect_cpu_float(phi, "mhc_init_parameters phi");
  expect_rank(phi, 2, "mhc_init_parameters phi");
  MHC_CHECK(phi.dim(1) == K && phi.dim(0) > 0 && phi.dim(0) % n == 0, ShapeError,
            "mhc_init_parameters phi must have shape (n*C, ", K, ") for n = ", n, ", got ", phi.describe());
  expect_cpu_float(alpha, "mhc_init_parameters alpha");
  expect_shape(alpha, Shape{3}, "mhc_init_parameters alpha");
  expect_cpu_float(bias, "mhc_init_parameters bias");
  expect_shape(bias, Shape{K}, "mhc_init_parameters bias");

  if (init.phi == MhcInit::Phi::xavier) {
    const double a = std::sqrt(6.0 / static_cast<double>(phi.dim(0) + K));
    fill_uniform(phi, seed, name_prefix + ".phi", -a, a);
  } else {
    fill_constant(phi, 0.0);
  }
  fill_constant(alpha, init.alpha_init);

  std::vector<double> b(static_cast<std::size_t>(K), 0.0);
  if (init.bias == MhcInit::Bias::identity) {
    const std::int64_t home = layer_index % n;
    for (std::int64_t i = 0; i < n; ++i) b[static_cast<std::size_t>(i)] = i == home ? 3.0 : -3.0;  // b_pre
    for (std::int64_t i = 0; i < n; ++i)                                                           // b_res = 6I - 3
      for (std::int64_t j = 0; j < n; ++j) b[static_cast<std::size_t>(2 * n + i * n + j)] = i == j ? 3.0 : -3.0;
  }
  dispatch_cpu_float(bias.dtype, "mhc_init_parameters", [&](auto zero) {
    using T = decltype(zero);
    for (std::int64_t k = 0; k < K; ++k) bias.ptr<T>()[k] = static_cast<T>(b[static_cast<std::size_t>(k)]);
  });
}

}  // namespace mhc::ops
