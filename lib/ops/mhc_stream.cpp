// Checked entry points of the fused mHC connection passes; the CPU passes or, on CUDA, the sequence of the separate
// ops (each dispatching to its kernel).
#include "ops/mhc_stream.hpp"

#include "ops/cpu/mhc_stream_cpu.hpp"
#include "ops/device_dispatch.hpp"
#include "ops/dispatch.hpp"
#include "ops/mhc_coeffs.hpp"
#include "ops/sinkhorn.hpp"
#include "ops/stream_args.hpp"
#include "ops/stream_mix.hpp"

namespace mhc::ops {

namespace {

struct Arg {
  const Tensor& t;
  Shape shape;
  const char* name;
};

// Checks every argument against the stream tensor x (already checked, with extents e) and the iteration count;
// returns the extents.
template <std::size_t kArgs>
cpu::MhcDims check_args(const Tensor& x, const StreamExtents& e, const Arg (&args)[kArgs], int sinkhorn_iters,
                        const char* op) {
  MHC_CHECK(sinkhorn_iters >= 1, ShapeError, op, ": sinkhorn_iters must be >= 1, got ", sinkhorn_iters);
  for (const Arg& arg : args) expect_stream_arg(arg.t, arg.shape, x, "x", op, arg.name);
  return {e.N, e.n, e.C};
}

cpu::MhcDims check(const MhcStreamForward& a, int sinkhorn_iters, const char* op) {
  const StreamExtents e = expect_stream_tensor(a.x, op, "x", /*allow_cuda=*/true);
  const std::int64_t N = e.N, n = e.n, C = e.C, K = n * n + 2 * n;
  const Arg args[] = {{a.u, {N, C}, "u"},
                      {a.h_pre, {N, n}, "h_pre"},
                      {a.h_post, {N, n}, "h_post"},
                      {a.res_logits, {N, n, n}, "res_logits"},
                      {a.h_res, {N, n, n}, "h_res"},
                      {a.proj, {N, K}, "proj"},
                      {a.rstd, {N}, "rstd"},
                      {a.phi, {n * C, K}, "phi"},
                      {a.alpha, {3}, "alpha"},
                      {a.bias, {K}, "bias"}};
  return check_args(a.x, e, args, sinkhorn_iters, op);
}

cpu::MhcDims check(const MhcStreamBackward& a, int sinkhorn_iters, const char* op) {
  const StreamExtents e = expect_stream_tensor(a.x, op, "x", /*allow_cuda=*/true);
  const std::int64_t N = e.N, n = e.n, C = e.C, K = n * n + 2 * n;
  const Arg args[] = {{a.dx, {N, n, C}, "dx"},
                      {a.x_coef, {N}, "x_coef"},
                      {a.dtilde, {N, K}, "dtilde"},
                      {a.dh_pre, {N, n}, "dh_pre"},
                      {a.dh_post, {N, n}, "dh_post"},
                      {a.dh_res, {N, n, n}, "dh_res"},
                      {a.dres_logits, {N, n, n}, "dres_logits"},
                      {a.dx_out, {N, n, C}, "dx_out"},
                      {a.du, {N, C}, "du"},
                      {a.y, {N, C}, "y"},
                      {a.h_pre, {N, n}, "h_pre"},
                      {a.h_post, {N, n}, "h_post"},
                      {a.h_res, {N, n, n}, "h_res"},
                      {a.res_logits, {N, n, n}, "res_logits"},
                      {a.proj, {N, K}, "proj"},
                      {a.rstd, {N}, "rstd"},
                      {a.phi, {n * C, K}, "phi"},
                      {a.alpha, {3}, "alpha"}};
  const cpu::MhcDims d = check_args(a.x, e, args, sinkhorn_iters, op);
  MHC_CHECK(a.dx.data != a.dx_out.data || a.x.numel() == 0, ShapeError, op, ": dx must not alias dx_out");
  return d;
}

}  // namespace

void mhc_stream_forward(const MhcStreamForward& a, int sinkhorn_iters) {
  const char* op = "mhc_stream_forward";
  const cpu::MhcDims d = check(a, sinkhorn_iters, op);
  if (on_cuda(a.x, op)) {
    mhc_coeffs_sinkhorn_forward(a.h_pre, a.h_post, a.res_logits, a.h_res, a.proj, a.rstd, a.x, a.phi, a.alpha, a.bias,
                                sinkhorn_iters);
    stream_pre_apply_forward(a.u, a.x, a.h_pre);
    return;
  }
  dispatch_cpu_float(a.x.dtype, op, [&](auto zero) {
    using T = decltype(zero);
    const cpu::MhcStreamForwardArrays<T> arrays{a.u.ptr<T>(),     a.h_pre.ptr<T>(), a.h_post.ptr<T>(),
                                                a.res_logits.ptr<T>(), a.h_res.ptr<T>(), a.proj.ptr<T>(),
                                                a.rstd.ptr<T>(),  a.x.ptr<T>(),     a.phi.ptr<T>(),
                                                a.alpha.ptr<T>(), a.bias.ptr<T>()};
    cpu::mhc_stream_forward<T>(arrays, d, sinkhorn_iters, static_cast<T>(kMhcRmsEps), static_cast<T>(kSinkhornEps));
  });
}

void mhc_stream_backward(const MhcStreamBackward& a, int sinkhorn_iters) {
  const char* op = "mhc_stream_backward";
  const cpu::MhcDims d = check(a, sinkhorn_iters, op);
  if (on_cuda(a.x, op)) {
    stream_post_res_backward(Tensor(), a.dh_res, a.dh_post, a.dx_out, a.x, a.y, a.h_post);
    stream_pre_apply_backward(a.dh_pre, a.du, a.x);
    sinkhorn_backward(a.dres_logits, a.dh_res, a.res_logits, sinkhorn_iters);
    mhc_coeffs_backward_input(a.dx, a.x_coef, a.dtilde, a.dh_pre, a.dh_post, a.dres_logits, a.phi, a.alpha, a.h_pre,
                              a.h_post, a.proj, a.rstd);
    stream_mix_backward(a.dx, a.dx_out, a.du, a.h_res, a.h_pre, a.x, a.x_coef);
    return;
  }
  dispatch_cpu_float(a.x.dtype, op, [&](auto zero) {
    using T = decltype(zero);
    const cpu::MhcStreamBackwardArrays<T> arrays{
        a.dx.ptr<T>(),     a.x_coef.ptr<T>(),     a.dtilde.ptr<T>(), a.dh_pre.ptr<T>(), a.dh_post.ptr<T>(),
        a.dh_res.ptr<T>(), a.dres_logits.ptr<T>(), a.dx_out.ptr<T>(), a.du.ptr<T>(),     a.x.ptr<T>(),
        a.y.ptr<T>(),      a.h_pre.ptr<T>(),      a.h_post.ptr<T>(), a.h_res.ptr<T>(),  a.res_logits.ptr<T>(),
        a.proj.ptr<T>(),   a.rstd.ptr<T>(),       a.phi.ptr<T>(),    a.alpha.ptr<T>()};
    cpu::mhc_stream_backward<T>(arrays, d, sinkhorn_iters, static_cast<T>(kSinkhornEps));
  });
}

}  // namespace mhc::ops
