// Checked entry points of the stream merges before the final norm (sum and gate); dispatch to the CPU code.
#include "ops/head_merge.hpp"

#include <string>

#include "ops/cpu/head_merge_cpu.hpp"
#include "ops/dispatch.hpp"
#include "ops/mhc_coeffs.hpp"

namespace mhc::ops {

namespace {

constexpr std::int64_t kMaxStreams = 8;

// Extents from a (N, n, C) stream tensor `ref` named `ref_name`, after checking it.
cpu::HeadMergeDims stream_dims(const Tensor& ref, const char* op, const char* ref_name) {
  const std::string name = std::string(op) + " " + ref_name;
  expect_cpu_float(ref, name.c_str());
  expect_rank(ref, 3, name.c_str());
  const cpu::HeadMergeDims d{ref.dim(0), ref.dim(1), ref.dim(2)};
  MHC_CHECK(d.n >= 1 && d.n <= kMaxStreams, ShapeError, name, ": the number of streams n = ", d.n, " must be in 1..",
            kMaxStreams, ", got ", ref.describe());
  return d;
}

// One tensor argument of `op`: CPU float, the dtype of `ref`, the expected shape; every message names the argument.
void expect_arg(const Tensor& t, const Shape& s, const Tensor& ref, const char* ref_name, const char* op,
                const char* what) {
  const std::string name = std::string(op) + " " + what;
  expect_cpu_float(t, name.c_str());
  expect_same_dtype(t, ref, name.c_str(), ref_name);
  expect_shape(t, s, name.c_str());
}

}  // namespace

void stream_sum_forward(Tensor y, Tensor x) {
  const char* op = "stream_sum_forward";
  const cpu::HeadMergeDims d = stream_dims(x, op, "x");
  expect_arg(y, Shape{d.N, d.C}, x, "x", op, "y");
  dispatch_cpu_float(x.dtype, op, [&](auto zero) {
    using T = decltype(zero);
    cpu::stream_sum_forward<T>(y.ptr<T>(), x.ptr<T>(), d);
  });
}

void stream_sum_backward(Tensor dx, Tensor dy) {
  const char* op = "stream_sum_backward";
  const cpu::HeadMergeDims d = stream_dims(dx, op, "dx");
  expect_arg(dy, Shape{d.N, d.C}, dx, "dx", op, "dy");
  dispatch_cpu_float(dx.dtype, op, [&](auto zero) {
    using T = decltype(zero);
    cpu::stream_sum_backward<T>(dx.ptr<T>(), dy.ptr<T>(), d);
  });
}

void head_merge_gate_forward(Tensor y, Tensor w, Tensor proj, Tensor rstd, Tensor x, Tensor phi, Tensor alpha,
                             Tensor bias) {
  const char* op = "head_merge_gate_forward";
  const cpu::HeadMergeDims d = stream_dims(x, op, "x");
  const std::int64_t N = d.N, n = d.n;
  const auto check = [&](const Tensor& t, const Shape& shape, const char* what) {
    expect_arg(t, shape, x, "x", op, what);
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
  const cpu::HeadMergeDims d = stream_dims(x, op, "x");
  const std::int64_t N = d.N, n = d.n;
  const auto check = [&](const Tensor& t, const Shape& shape, const char* what) {
    expect_arg(t, shape, x, "x", op, what);
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
  const cpu::HeadMergeDims d = stream_dims(x, op, "x");
  const std::int64_t N = d.N, n = d.n;
  const auto check = [&](const Tensor& t, const Shape& shape, const char* what) {
    expect_arg(t, shape, x, "x", op, what);
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
