// Checked entry points of the dynamic Hyper-Connections coefficient ops and their init; dispatch to the CPU oracle
// or CUDA (the GEMMs through ops::matmul, the rest in kernels/hc_coeffs.hpp). The init is CPU-only.
#include "ops/hc_coeffs.hpp"

#include <string>

#include "core/rng.hpp"
#include "kernels/hc_coeffs.hpp"
#include "ops/cpu/hc_coeffs_cpu.hpp"
#include "ops/device_dispatch.hpp"
#include "ops/dispatch.hpp"
#include "ops/matmul.hpp"
#include "ops/stream_args.hpp"

namespace mhc::ops {

namespace {

// (N, n, k) viewed as (N n, k): one GEMM row per token and stream.
Tensor stream_rows(const Tensor& t) { return t.reshape(Shape{t.dim(0) * t.dim(1), t.dim(2)}); }

}  // namespace

void hc_coeffs_forward(Tensor h_pre, Tensor h_post, Tensor h_res, Tensor proj, Tensor xb, Tensor w, Tensor s, Tensor am,
                       Tensor ar, Tensor bb) {
  const char* op = "hc_coeffs_forward";
  const StreamExtents ext = expect_stream_tensor(xb, op, "xb", /*allow_cuda=*/true);
  const cpu::HcDims d{ext.N, ext.n, ext.C};
  const std::int64_t N = d.N, n = d.n;
  const auto check = [&](const Tensor& t, const Shape& shape, const char* what) {
    expect_stream_arg(t, shape, xb, "xb", op, what);
  };
  check(w, Shape{d.C, d.P()}, "w");
  check(s, Shape{2}, "s");
  check(am, Shape{n}, "am");
  check(ar, Shape{n, n}, "ar");
  check(bb, Shape{n}, "bb");
  check(h_pre, Shape{N, n}, "h_pre");
  check(h_post, Shape{N, n}, "h_post");
  check(h_res, Shape{N, n, n}, "h_res");
  check(proj, Shape{N, n, d.P()}, "proj");
  if (on_cuda(xb, op)) {
    if (N == 0) return;
    matmul(stream_rows(proj), stream_rows(xb), w, false, false);
    kernels::launch_hc_coeffs_forward(h_pre.ptr<float>(), h_post.ptr<float>(), h_res.ptr<float>(), proj.ptr<float>(),
                                      s.ptr<float>(), am.ptr<float>(), ar.ptr<float>(), bb.ptr<float>(), N,
                                      static_cast<int>(n), current_stream());
    return;
  }
  dispatch_cpu_float(xb.dtype, op, [&](auto zero) {
    using T = decltype(zero);
    cpu::hc_coeffs_forward<T>(h_pre.ptr<T>(), h_post.ptr<T>(), h_res.ptr<T>(), proj.ptr<T>(), xb.ptr<T>(), w.ptr<T>(),
                              s.ptr<T>(), am.ptr<T>(), ar.ptr<T>(), bb.ptr<T>(), d);
  });
}

void hc_coeffs_backward_input(Tensor dxb, Tensor dproj, Tensor dh_pre, Tensor dh_post, Tensor dh_res, Tensor proj,
                              Tensor w, Tensor s) {
  const char* op = "hc_coeffs_backward_input";
  const StreamExtents ext = expect_stream_tensor(dxb, op, "dxb", /*allow_cuda=*/true);
  const cpu::HcDims d{ext.N, ext.n, ext.C};
  const std::int64_t N = d.N, n = d.n;
  const auto check = [&](const Tensor& t, const Shape& shape, const char* what) {
    expect_stream_arg(t, shape, dxb, "dxb", op, what);
  };
  check(dproj, Shape{N, n, d.P()}, "dproj");
  check(dh_pre, Shape{N, n}, "dh_pre");
  check(dh_post, Shape{N, n}, "dh_post");
  check(dh_res, Shape{N, n, n}, "dh_res");
  check(proj, Shape{N, n, d.P()}, "proj");
  check(w, Shape{d.C, d.P()}, "w");
  check(s, Shape{2}, "s");
  if (on_cuda(dxb, op)) {
    if (N == 0) return;
    kernels::launch_hc_coeffs_dproj(dproj.ptr<float>(), dh_pre.ptr<float>(), dh_post.ptr<float>(), dh_res.ptr<float>(),
                                    proj.ptr<float>(), s.ptr<float>(), N, static_cast<int>(n), current_stream());
    matmul(stream_rows(dxb), stream_rows(dproj), w, false, true);
    return;
  }
  dispatch_cpu_float(dxb.dtype, op, [&](auto zero) {
    using T = decltype(zero);
    cpu::hc_coeffs_backward_input<T>(dxb.ptr<T>(), dproj.ptr<T>(), dh_pre.ptr<T>(), dh_post.ptr<T>(), dh_res.ptr<T>(),
                                     proj.ptr<T>(), w.ptr<T>(), s.ptr<T>(), d);
  });
}

void hc_coeffs_backward_weight(Tensor dw, Tensor ds, Tensor dam, Tensor dar, Tensor dbb, Tensor dproj, Tensor dh_pre,
                               Tensor dh_post, Tensor dh_res, Tensor xb, Tensor proj) {
  const char* op = "hc_coeffs_backward_weight";
  const StreamExtents ext = expect_stream_tensor(xb, op, "xb", /*allow_cuda=*/true);
  const cpu::HcDims d{ext.N, ext.n, ext.C};
  const std::int64_t N = d.N, n = d.n;
  const auto check = [&](const Tensor& t, const Shape& shape, const char* what) {
    expect_stream_arg(t, shape, xb, "xb", op, what);
  };
  check(dw, Shape{d.C, d.P()}, "dw");
  check(ds, Shape{2}, "ds");
  check(dam, Shape{n}, "dam");
  check(dar, Shape{n, n}, "dar");
  check(dbb, Shape{n}, "dbb");
  check(dproj, Shape{N, n, d.P()}, "dproj");
  check(dh_pre, Shape{N, n}, "dh_pre");
  check(dh_post, Shape{N, n}, "dh_post");
  check(dh_res, Shape{N, n, n}, "dh_res");
  check(proj, Shape{N, n, d.P()}, "proj");
  if (on_cuda(xb, op)) {
    if (N == 0) return;  // nothing to add
    matmul(dw, stream_rows(xb), stream_rows(dproj), true, false, 1.0f, 1.0f);
    kernels::launch_hc_coeffs_weight_sums(ds.ptr<float>(), dam.ptr<float>(), dar.ptr<float>(), dbb.ptr<float>(),
                                          dh_pre.ptr<float>(), dh_post.ptr<float>(), dh_res.ptr<float>(),
                                          proj.ptr<float>(), N, static_cast<int>(n), current_stream());
    return;
  }
  dispatch_cpu_float(xb.dtype, op, [&](auto zero) {
    using T = decltype(zero);
    cpu::hc_coeffs_backward_weight<T>(dw.ptr<T>(), ds.ptr<T>(), dam.ptr<T>(), dar.ptr<T>(), dbb.ptr<T>(),
                                      dproj.ptr<T>(), dh_pre.ptr<T>(), dh_post.ptr<T>(), dh_res.ptr<T>(), xb.ptr<T>(),
                                      proj.ptr<T>(), d);
  });
}

void hc_init_parameters(Tensor w, Tensor s, Tensor am, Tensor ar, Tensor bb, int layer_index, double scale_init) {
  const char* op = "hc_init_parameters";
  expect_cpu_float(am, "hc_init_parameters am");
  expect_rank(am, 1, "hc_init_parameters am");
  const std::int64_t n = am.dim(0);
  MHC_CHECK(n >= 1 && n <= kMaxStreams, ShapeError, "hc_init_parameters am: the number of streams n = ", n,
            " must be in 1..", kMaxStreams);
  MHC_CHECK(layer_index >= 0, Error, "hc_init_parameters: layer_index = ", layer_index, " must be >= 0");
  const auto check = [&](const Tensor& t, const Shape& shape, const char* what) {
    expect_stream_arg(t, shape, am, "am", op, what);
  };
  expect_rank(w, 2, "hc_init_parameters w");
  check(w, Shape{w.dim(0), n + 2}, "w");
  check(s, Shape{2}, "s");
  check(ar, Shape{n, n}, "ar");
  check(bb, Shape{n}, "bb");

  fill_constant(w, 0.0);
  fill_constant(s, scale_init);
  fill_constant(bb, 1.0);
  dispatch_cpu_float(am.dtype, op, [&](auto zero) {
    using T = decltype(zero);
    const std::int64_t home = layer_index % n;
    for (std::int64_t i = 0; i < n; ++i) {
      am.ptr<T>()[i] = i == home ? T(1) : T(0);
      for (std::int64_t j = 0; j < n; ++j) ar.ptr<T>()[i * n + j] = i == j ? T(1) : T(0);
    }
  });
}

}  // namespace mhc::ops
