// Checked entry points of the mHC coefficient ops and the parameter init; dispatch to the CPU code.
#include "ops/mhc_coeffs.hpp"

#include <cmath>
#include <vector>

#include "core/rng.hpp"
#include "ops/cpu/mhc_coeffs_cpu.hpp"
#include "ops/dispatch.hpp"
#include "ops/stream_args.hpp"

namespace mhc::ops {

void mhc_coeffs_forward(Tensor h_pre, Tensor h_post, Tensor res_logits, Tensor proj, Tensor rstd, Tensor x, Tensor phi,
                        Tensor alpha, Tensor bias) {
  const char* op = "mhc_coeffs_forward";
  const StreamExtents ext = expect_stream_tensor(x, op, "x");
  const cpu::MhcDims d{ext.N, ext.n, ext.C};
  const std::int64_t N = d.N, n = d.n, K = d.K();
  expect_stream_arg(phi, Shape{n * d.C, K}, x, "x", op, "phi");
  expect_stream_arg(alpha, Shape{3}, x, "x", op, "alpha");
  expect_stream_arg(bias, Shape{K}, x, "x", op, "bias");
  expect_stream_arg(h_pre, Shape{N, n}, x, "x", op, "h_pre");
  expect_stream_arg(h_post, Shape{N, n}, x, "x", op, "h_post");
  expect_stream_arg(res_logits, Shape{N, n, n}, x, "x", op, "res_logits");
  expect_stream_arg(proj, Shape{N, K}, x, "x", op, "proj");
  expect_stream_arg(rstd, Shape{N}, x, "x", op, "rstd");
  dispatch_cpu_float(x.dtype, op, [&](auto zero) {
    using T = decltype(zero);
    cpu::mhc_coeffs_forward<T>(h_pre.ptr<T>(), h_post.ptr<T>(), res_logits.ptr<T>(), proj.ptr<T>(), rstd.ptr<T>(),
                               x.ptr<T>(), phi.ptr<T>(), alpha.ptr<T>(), bias.ptr<T>(), d, static_cast<T>(kMhcRmsEps));
  });
}

void mhc_coeffs_backward_input(Tensor dx, Tensor dtilde, Tensor dh_pre, Tensor dh_post, Tensor dres_logits, Tensor x,
                               Tensor phi, Tensor alpha, Tensor h_pre, Tensor h_post, Tensor proj, Tensor rstd) {
  const char* op = "mhc_coeffs_backward_input";
  const StreamExtents ext = expect_stream_tensor(x, op, "x");
  const cpu::MhcDims d{ext.N, ext.n, ext.C};
  const std::int64_t N = d.N, n = d.n, K = d.K();
  expect_stream_arg(dx, x.shape, x, "x", op, "dx");
  expect_stream_arg(dtilde, Shape{N, K}, x, "x", op, "dtilde");
  expect_stream_arg(dh_pre, Shape{N, n}, x, "x", op, "dh_pre");
  expect_stream_arg(dh_post, Shape{N, n}, x, "x", op, "dh_post");
  expect_stream_arg(dres_logits, Shape{N, n, n}, x, "x", op, "dres_logits");
  expect_stream_arg(phi, Shape{n * d.C, K}, x, "x", op, "phi");
  expect_stream_arg(alpha, Shape{3}, x, "x", op, "alpha");
  expect_stream_arg(h_pre, Shape{N, n}, x, "x", op, "h_pre");
  expect_stream_arg(h_post, Shape{N, n}, x, "x", op, "h_post");
  expect_stream_arg(proj, Shape{N, K}, x, "x", op, "proj");
  expect_stream_arg(rstd, Shape{N}, x, "x", op, "rstd");
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
  const StreamExtents ext = expect_stream_tensor(x, op, "x");
  const cpu::MhcDims d{ext.N, ext.n, ext.C};
  const std::int64_t N = d.N, K = d.K();
  expect_stream_arg(dphi, Shape{d.n * d.C, K}, x, "x", op, "dphi");
  expect_stream_arg(dalpha, Shape{3}, x, "x", op, "dalpha");
  expect_stream_arg(dbias, Shape{K}, x, "x", op, "dbias");
  expect_stream_arg(dtilde, Shape{N, K}, x, "x", op, "dtilde");
  expect_stream_arg(proj, Shape{N, K}, x, "x", op, "proj");
  expect_stream_arg(rstd, Shape{N}, x, "x", op, "rstd");
  expect_stream_arg(alpha, Shape{3}, x, "x", op, "alpha");
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
