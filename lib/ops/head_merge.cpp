// Checked entry points of the stream merges before the final norm (sum and gate); dispatch to the CPU code.
#include "ops/head_merge.hpp"

#include <string>

#include "ops/cpu/head_merge_cpu.hpp"
#include "ops/dispatch.hpp"
#include "ops/stream_args.hpp"
#include "ops/mhc_coeffs.hpp"

namespace mhc::ops {

void stream_sum_forward(Tensor y, Tensor x) {
  const char* op = "stream_sum_forward";
  const StreamExtents ext = expect_stream_tensor(x, op, "x");
  const cpu::HeadMergeDims d{ext.N, ext.n, ext.C};
  expect_stream_arg(y, Shape{d.N, d.C}, x, "x", op, "y");
  dispatch_cpu_float(x.dtype, op, [&](auto zero) {
    using T = decltype(zero);
    cpu::stream_sum_forward<T>(y.ptr<T>(), x.ptr<T>(), d);
  });
}

void stream_sum_backward(Tensor dx, Tensor dy) {
  const char* op = "stream_sum_backward";
  const StreamExtents ext = expect_stream_tensor(dx, op, "dx");
  const cpu::HeadMergeDims d{ext.N, ext.n, ext.C};
  expect_stream_arg(dy, Shape{d.N, d.C}, dx, "dx", op, "dy");
  dispatch_cpu_float(dx.dtype, op, [&](auto zero) {
    using T = decltype(zero);
    cpu::stream_sum_backward<T>(dx.ptr<T>(), dy.ptr<T>(), d);
  });
}

void head_merge_gate_forward(Tensor y, Tensor w, Tensor proj, Tensor rstd, Tensor x, Tensor phi, Tensor alpha,
                             Tensor bias) {
  const char* op = "head_merge_gate_forward";
  const StreamExtents ext = expect_stream_tensor(x, op, "x");
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
  const StreamExtents ext = expect_stream_tensor(x, op, "x");
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
  const StreamExtents ext = expect_stream_tensor(x, op, "x");
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
  dispatch_cpu_float(x.dtype, op, [&](auto zero) {
    using T = decltype(zero);
    cpu::head_merge_gate_backward_weight<T>(dphi.ptr<T>(), dalpha.ptr<T>(), dbias.ptr<T>(), dlogit.ptr<T>(), x.ptr<T>(),
                                            proj.ptr<T>(), rstd.ptr<T>(), alpha.ptr<T>(), d);
  });
}

}  // namespace mhc::ops
