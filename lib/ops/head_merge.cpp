// Checked entry points of the stream merges before the final norm (sum and gate); dispatch to the CPU oracle or
// CUDA (the gate's GEMMs through ops::matmul, the rest in kernels/head_merge.hpp).
#include "ops/head_merge.hpp"

#include <string>

#include "core/device_scratch.hpp"
#include "kernels/head_merge.hpp"
#include "ops/cpu/head_merge_cpu.hpp"
#include "ops/device_dispatch.hpp"
#include "ops/dispatch.hpp"
#include "ops/matmul.hpp"
#include "ops/mhc_coeffs.hpp"
#include "ops/stream_args.hpp"

namespace mhc::ops {

namespace {

// x (N, n, C) viewed as (N, n C): one GEMM row vec(x) per token.
Tensor token_rows(const Tensor& x) { return x.reshape(Shape{x.dim(0), x.dim(1) * x.dim(2)}); }

// Stream-ordered f32 device scratch (N, n) for dproj on the current stream, freed after the work queued before
// the object dies.
struct DprojScratch {
  DeviceScratch memory;
  Tensor view;
  DprojScratch(std::int64_t N, std::int64_t n, const char* op)
      : memory(N * n * static_cast<std::int64_t>(sizeof(float)), current_stream(), op),
        view(memory.as<float>(), DType::f32, Shape{N, n}, Device::cuda) {}
};

}  // namespace

void stream_sum_forward(Tensor y, Tensor x) {
  const char* op = "stream_sum_forward";
  const StreamExtents ext = expect_stream_tensor(x, op, "x", /*allow_cuda=*/true);
  const cpu::HeadMergeDims d{ext.N, ext.n, ext.C};
  expect_stream_arg(y, Shape{d.N, d.C}, x, "x", op, "y");
  if (on_cuda(x, op)) {
    kernels::launch_stream_sum_forward(y.ptr<float>(), x.ptr<float>(), d.N, static_cast<int>(d.n), d.C,
                                       current_stream());
    return;
  }
  dispatch_cpu_float(x.dtype, op, [&](auto zero) {
    using T = decltype(zero);
    cpu::stream_sum_forward<T>(y.ptr<T>(), x.ptr<T>(), d);
  });
}

void stream_sum_backward(Tensor dx, Tensor dy) {
  const char* op = "stream_sum_backward";
  const StreamExtents ext = expect_stream_tensor(dx, op, "dx", /*allow_cuda=*/true);
  const cpu::HeadMergeDims d{ext.N, ext.n, ext.C};
  expect_stream_arg(dy, Shape{d.N, d.C}, dx, "dx", op, "dy");
  if (on_cuda(dx, op)) {
    kernels::launch_stream_sum_backward(dx.ptr<float>(), dy.ptr<float>(), d.N, static_cast<int>(d.n), d.C,
                                        current_stream());
    return;
  }
  dispatch_cpu_float(dx.dtype, op, [&](auto zero) {
    using T = decltype(zero);
    cpu::stream_sum_backward<T>(dx.ptr<T>(), dy.ptr<T>(), d);
  });
}

void head_merge_gate_forward(Tensor y, Tensor w, Tensor proj, Tensor rstd, Tensor x, Tensor phi, Tensor alpha,
                             Tensor bias) {
  const char* op = "head_merge_gate_forward";
  const StreamExtents ext = expect_stream_tensor(x, op, "x", /*allow_cuda=*/true);
  const cpu::HeadMergeDims d{ext.N, ext.n, ext.C};
  const std::int64_t N = d.N, n = d.n;
  const auto check = [&](const Tensor& t, const Shape& shape, const char* what) {
    expect_stream_arg(t, shape, x, "x", op, what);
  };
  check(phi, Shape{n * d.C, n}, "phi");
  check(alpha, Shape{1}, "alpha");
  check(bias, Shape{n}, "bias");
  check(y, Shape{N, d.C}, "y");
  check(w, Shape{N, n}, "w");
  check(proj, Shape{N, n}, "proj");
  check(rstd, Shape{N}, "rstd");
  if (on_cuda(x, op)) {
    if (N == 0) return;
    matmul(proj, token_rows(x), phi, false, false);
    kernels::launch_head_merge_gate_forward(y.ptr<float>(), w.ptr<float>(), rstd.ptr<float>(), proj.ptr<float>(),
                                            x.ptr<float>(), alpha.ptr<float>(), bias.ptr<float>(), N,
                                            static_cast<int>(n), d.C, kMhcRmsEps,
                                            static_cast<float>(kHeadMergeWeightEps), current_stream());
    return;
  }
  dispatch_cpu_float(x.dtype, op, [&](auto zero) {
    using T = decltype(zero);
    cpu::head_merge_gate_forward<T>(y.ptr<T>(), w.ptr<T>(), proj.ptr<T>(), rstd.ptr<T>(), x.ptr<T>(), phi.ptr<T>(),
                                    alpha.ptr<T>(), bias.ptr<T>(), d, static_cast<T>(kMhcRmsEps),
                                    static_cast<T>(kHeadMergeWeightEps));
  });
}

void head_merge_gate_backward_input(Tensor dx, Tensor dlogit, Tensor dy, Tensor x, Tensor phi, Tensor alpha, Tensor w,
                                    Tensor proj, Tensor rstd) {
  const char* op = "head_merge_gate_backward_input";
  const StreamExtents ext = expect_stream_tensor(x, op, "x", /*allow_cuda=*/true);
  const cpu::HeadMergeDims d{ext.N, ext.n, ext.C};
  const std::int64_t N = d.N, n = d.n;
  const auto check = [&](const Tensor& t, const Shape& shape, const char* what) {
    expect_stream_arg(t, shape, x, "x", op, what);
  };
  check(dx, x.shape, "dx");
  check(dlogit, Shape{N, n}, "dlogit");
  check(dy, Shape{N, d.C}, "dy");
  check(phi, Shape{n * d.C, n}, "phi");
  check(alpha, Shape{1}, "alpha");
  check(w, Shape{N, n}, "w");
  check(proj, Shape{N, n}, "proj");
  check(rstd, Shape{N}, "rstd");
  if (on_cuda(x, op)) {
    if (N == 0) return;
    const DprojScratch dproj(N, n, op);
    kernels::launch_head_merge_gate_backward_input(
        dx.ptr<float>(), dlogit.ptr<float>(), dproj.view.ptr<float>(), dy.ptr<float>(), x.ptr<float>(),
        alpha.ptr<float>(), w.ptr<float>(), proj.ptr<float>(), rstd.ptr<float>(), N, static_cast<int>(n), d.C,
        static_cast<float>(kHeadMergeWeightEps), current_stream());
    matmul(token_rows(dx), dproj.view, phi, false, true, 1.0f, 1.0f);
    return;
  }
  dispatch_cpu_float(x.dtype, op, [&](auto zero) {
    using T = decltype(zero);
    cpu::head_merge_gate_backward_input<T>(dx.ptr<T>(), dlogit.ptr<T>(), dy.ptr<T>(), x.ptr<T>(), phi.ptr<T>(),
                                           alpha.ptr<T>(), w.ptr<T>(), proj.ptr<T>(), rstd.ptr<T>(), d,
                                           static_cast<T>(kHeadMergeWeightEps));
  });
}

void head_merge_gate_backward_weight(Tensor dphi, Tensor dalpha, Tensor dbias, Tensor dlogit, Tensor x, Tensor proj,
                                     Tensor rstd, Tensor alpha) {
  const char* op = "head_merge_gate_backward_weight";
  const StreamExtents ext = expect_stream_tensor(x, op, "x", /*allow_cuda=*/true);
  const cpu::HeadMergeDims d{ext.N, ext.n, ext.C};
  const std::int64_t N = d.N, n = d.n;
  const auto check = [&](const Tensor& t, const Shape& shape, const char* what) {
    expect_stream_arg(t, shape, x, "x", op, what);
  };
  check(dphi, Shape{n * d.C, n}, "dphi");
  check(dalpha, Shape{1}, "dalpha");
  check(dbias, Shape{n}, "dbias");
  check(dlogit, Shape{N, n}, "dlogit");
  check(proj, Shape{N, n}, "proj");
  check(rstd, Shape{N}, "rstd");
  check(alpha, Shape{1}, "alpha");
  if (on_cuda(x, op)) {
    if (N == 0) return;  // nothing to add
    const DprojScratch dproj(N, n, op);
    kernels::launch_head_merge_gate_weight_sums(dproj.view.ptr<float>(), dalpha.ptr<float>(), dbias.ptr<float>(),
                                                dlogit.ptr<float>(), proj.ptr<float>(), rstd.ptr<float>(),
                                                alpha.ptr<float>(), N, static_cast<int>(n), current_stream());
    matmul(dphi, token_rows(x), dproj.view, true, false, 1.0f, 1.0f);
    return;
  }
  dispatch_cpu_float(x.dtype, op, [&](auto zero) {
    using T = decltype(zero);
    cpu::head_merge_gate_backward_weight<T>(dphi.ptr<T>(), dalpha.ptr<T>(), dbias.ptr<T>(), dlogit.ptr<T>(), x.ptr<T>(),
                                            proj.ptr<T>(), rstd.ptr<T>(), alpha.ptr<T>(), d);
  });
}

}  // namespace mhc::ops
