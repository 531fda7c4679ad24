// Checked entry points of the mHC coefficient ops and the parameter init; dispatch to the CPU oracle or CUDA.
#include "ops/mhc_coeffs.hpp"

#include <cmath>
#include <vector>

#include "core/rng.hpp"
#include "kernels/mhc_coeffs.hpp"
#include "kernels/mhc_projection.hpp"
#include "ops/cpu/mhc_coeffs_cpu.hpp"
#include "ops/device_dispatch.hpp"
#include "ops/dispatch.hpp"
#include "ops/sinkhorn.hpp"
#include "ops/stream_args.hpp"

namespace mhc::ops {

namespace {

// Checks the arguments of the forward (h_res too when defined); returns the extents.
cpu::MhcDims check_forward(const char* op, const Tensor& h_pre, const Tensor& h_post, const Tensor& res_logits,
                           const Tensor* h_res, const Tensor& proj, const Tensor& rstd, const Tensor& x,
                           const Tensor& phi, const Tensor& alpha, const Tensor& bias) {
  const StreamExtents ext = expect_stream_tensor(x, op, "x", /*allow_cuda=*/true);
  const cpu::MhcDims d{ext.N, ext.n, ext.C};
  const std::int64_t N = d.N, n = d.n, K = d.K();
  expect_stream_arg(phi, Shape{n * d.C, K}, x, "x", op, "phi");
  expect_stream_arg(alpha, Shape{3}, x, "x", op, "alpha");
  expect_stream_arg(bias, Shape{K}, x, "x", op, "bias");
  expect_stream_arg(h_pre, Shape{N, n}, x, "x", op, "h_pre");
  expect_stream_arg(h_post, Shape{N, n}, x, "x", op, "h_post");
  expect_stream_arg(res_logits, Shape{N, n, n}, x, "x", op, "res_logits");
  if (h_res != nullptr) expect_stream_arg(*h_res, Shape{N, n, n}, x, "x", op, "h_res");
  expect_stream_arg(proj, Shape{N, K}, x, "x", op, "proj");
  expect_stream_arg(rstd, Shape{N}, x, "x", op, "rstd");
  return d;
}

// The CUDA forward: the fused projection + sum of squares, then the coefficient kernel (Sinkhorn too when h_res).
void forward_cuda(Tensor h_pre, Tensor h_post, Tensor res_logits, float* h_res, Tensor proj, Tensor rstd, Tensor x,
                  Tensor phi, Tensor alpha, Tensor bias, cpu::MhcDims d, int sinkhorn_iters) {
  const int n = static_cast<int>(d.n);
  kernels::launch_mhc_projection_forward(proj.ptr<float>(), rstd.ptr<float>(), x.ptr<float>(), phi.ptr<float>(), d.N, n,
                                         d.C, static_cast<float>(kMhcRmsEps), current_stream());
  kernels::launch_mhc_gates_forward(h_pre.ptr<float>(), h_post.ptr<float>(), res_logits.ptr<float>(), h_res,
                                    proj.ptr<float>(), rstd.ptr<float>(), alpha.ptr<float>(), bias.ptr<float>(), d.N, n,
                                    sinkhorn_iters, current_stream());
}

void forward_cpu(Tensor h_pre, Tensor h_post, Tensor res_logits, Tensor proj, Tensor rstd, Tensor x, Tensor phi,
                 Tensor alpha, Tensor bias, cpu::MhcDims d, const char* op) {
  dispatch_cpu_float(x.dtype, op, [&](auto zero) {
    using T = decltype(zero);
    cpu::mhc_coeffs_forward<T>(h_pre.ptr<T>(), h_post.ptr<T>(), res_logits.ptr<T>(), proj.ptr<T>(), rstd.ptr<T>(),
                               x.ptr<T>(), phi.ptr<T>(), alpha.ptr<T>(), bias.ptr<T>(), d, static_cast<T>(kMhcRmsEps));
  });
}

}  // namespace

void mhc_coeffs_forward(Tensor h_pre, Tensor h_post, Tensor res_logits, Tensor proj, Tensor rstd, Tensor x, Tensor phi,
                        Tensor alpha, Tensor bias) {
  const char* op = "mhc_coeffs_forward";
  const cpu::MhcDims d = check_forward(op, h_pre, h_post, res_logits, nullptr, proj, rstd, x, phi, alpha, bias);
  if (on_cuda(x, op)) {
    forward_cuda(h_pre, h_post, res_logits, nullptr, proj, rstd, x, phi, alpha, bias, d, 0);
    return;
  }
  forward_cpu(h_pre, h_post, res_logits, proj, rstd, x, phi, alpha, bias, d, op);
}

void mhc_coeffs_sinkhorn_forward(Tensor h_pre, Tensor h_post, Tensor res_logits, Tensor h_res, Tensor proj, Tensor rstd,
                                 Tensor x, Tensor phi, Tensor alpha, Tensor bias, int sinkhorn_iters) {
  const char* op = "mhc_coeffs_sinkhorn_forward";
  const cpu::MhcDims d = check_forward(op, h_pre, h_post, res_logits, &h_res, proj, rstd, x, phi, alpha, bias);
  MHC_CHECK(sinkhorn_iters >= 1, ShapeError, op, ": sinkhorn_iters must be >= 1, got ", sinkhorn_iters);
  if (on_cuda(x, op)) {
    forward_cuda(h_pre, h_post, res_logits, h_res.ptr<float>(), proj, rstd, x, phi, alpha, bias, d, sinkhorn_iters);
    return;
  }
  forward_cpu(h_pre, h_post, res_logits, proj, rstd, x, phi, alpha, bias, d, op);
  sinkhorn_forward(h_res, res_logits, sinkhorn_iters);
}

void mhc_coeffs_backward_input(Tensor dx, Tensor x_coef, Tensor dtilde, Tensor dh_pre, Tensor dh_post,
                               Tensor dres_logits, Tensor phi, Tensor alpha, Tensor h_pre, Tensor h_post, Tensor proj,
                               Tensor rstd) {
  const char* op = "mhc_coeffs_backward_input";
  const StreamExtents ext = expect_stream_tensor(dx, op, "dx", /*allow_cuda=*/true);
  const cpu::MhcDims d{ext.N, ext.n, ext.C};
  const std::int64_t N = d.N, n = d.n, K = d.K();
  expect_stream_arg(x_coef, Shape{N}, dx, "dx", op, "x_coef");
  expect_stream_arg(dtilde, Shape{N, K}, dx, "dx", op, "dtilde");
  expect_stream_arg(dh_pre, Shape{N, n}, dx, "dx", op, "dh_pre");
  expect_stream_arg(dh_post, Shape{N, n}, dx, "dx", op, "dh_post");
  expect_stream_arg(dres_logits, Shape{N, n, n}, dx, "dx", op, "dres_logits");
  expect_stream_arg(phi, Shape{n * d.C, K}, dx, "dx", op, "phi");
  expect_stream_arg(alpha, Shape{3}, dx, "dx", op, "alpha");
  expect_stream_arg(h_pre, Shape{N, n}, dx, "dx", op, "h_pre");
  expect_stream_arg(h_post, Shape{N, n}, dx, "dx", op, "h_post");
  expect_stream_arg(proj, Shape{N, K}, dx, "dx", op, "proj");
  expect_stream_arg(rstd, Shape{N}, dx, "dx", op, "rstd");
  if (on_cuda(dx, op)) {
    kernels::launch_mhc_gates_backward(dtilde.ptr<float>(), dh_pre.ptr<float>(), dh_post.ptr<float>(),
                                       dres_logits.ptr<float>(), h_pre.ptr<float>(), h_post.ptr<float>(), N,
                                       static_cast<int>(n), current_stream());
    kernels::launch_mhc_projection_backward_input(dx.ptr<float>(), x_coef.ptr<float>(), dtilde.ptr<float>(),
                                                  proj.ptr<float>(), rstd.ptr<float>(), alpha.ptr<float>(),
                                                  phi.ptr<float>(), N, static_cast<int>(n), d.C, current_stream());
    return;
  }
  dispatch_cpu_float(dx.dtype, op, [&](auto zero) {
    using T = decltype(zero);
    cpu::mhc_coeffs_backward_input<T>(dx.ptr<T>(), x_coef.ptr<T>(), dtilde.ptr<T>(), dh_pre.ptr<T>(), dh_post.ptr<T>(),
                                      dres_logits.ptr<T>(), phi.ptr<T>(), alpha.ptr<T>(), h_pre.ptr<T>(),
                                      h_post.ptr<T>(), proj.ptr<T>(), rstd.ptr<T>(), d);
  });
}

void mhc_coeffs_backward_weight(Tensor dphi, Tensor dalpha, Tensor dbias, Tensor dtilde, Tensor x, Tensor proj,
                                Tensor rstd, Tensor alpha) {
  const char* op = "mhc_coeffs_backward_weight";
  const StreamExtents ext = expect_stream_tensor(x, op, "x", /*allow_cuda=*/true);
  const cpu::MhcDims d{ext.N, ext.n, ext.C};
  const std::int64_t N = d.N, K = d.K();
  expect_stream_arg(dphi, Shape{d.n * d.C, K}, x, "x", op, "dphi");
  expect_stream_arg(dalpha, Shape{3}, x, "x", op, "dalpha");
  expect_stream_arg(dbias, Shape{K}, x, "x", op, "dbias");
  expect_stream_arg(dtilde, Shape{N, K}, x, "x", op, "dtilde");
  expect_stream_arg(proj, Shape{N, K}, x, "x", op, "proj");
  expect_stream_arg(rstd, Shape{N}, x, "x", op, "rstd");
  expect_stream_arg(alpha, Shape{3}, x, "x", op, "alpha");
  if (on_cuda(x, op)) {
    kernels::launch_mhc_projection_backward_weight(
        dphi.ptr<float>(), dalpha.ptr<float>(), dbias.ptr<float>(), dtilde.ptr<float>(), x.ptr<float>(),
        proj.ptr<float>(), rstd.ptr<float>(), alpha.ptr<float>(), N, static_cast<int>(d.n), d.C, current_stream());
    return;
  }
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
