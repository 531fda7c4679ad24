// Checked entry points of RMSNorm.
#include "ops/rmsnorm.hpp"

#include <utility>

#include "ops/cpu/rmsnorm_cpu.hpp"
#include "ops/dispatch.hpp"

namespace mhc::ops {

void rmsnorm_forward(Tensor out, Tensor rstd, Tensor x, Tensor w, double eps) {
  expect_rank(x, 2, "rmsnorm x");
  expect_cpu_float(x, "rmsnorm x");
  const std::int64_t N = x.dim(0), C = x.dim(1);
  expect_shape(out, Shape{N, C}, "rmsnorm out");
  expect_shape(rstd, Shape{N}, "rmsnorm rstd");
  expect_shape(w, Shape{C}, "rmsnorm w");
  for (const auto& [t, name] : {std::pair{out, "rmsnorm out"}, {rstd, "rmsnorm rstd"}, {w, "rmsnorm w"}}) {
    expect_cpu_float(t, name);
    expect_same_dtype(t, x, name, "x");
  }
  MHC_CHECK(eps >= 0, ShapeError, "eps must be >= 0, got ", eps);
  dispatch_cpu_float(x.dtype, "rmsnorm_forward", [&](auto zero) {
    using T = decltype(zero);
    cpu::rmsnorm_forward<T>(out.ptr<T>(), rstd.ptr<T>(), x.ptr<T>(), w.ptr<T>(), N, C, eps);
  });
}

void rmsnorm_backward_input(Tensor dx, Tensor dout, Tensor x, Tensor w, Tensor rstd) {
  expect_rank(x, 2, "rmsnorm x");
  expect_cpu_float(x, "rmsnorm x");
  const std::int64_t N = x.dim(0), C = x.dim(1);
  expect_shape(dx, Shape{N, C}, "rmsnorm dx");
  expect_shape(dout, Shape{N, C}, "rmsnorm dout");
  expect_shape(w, Shape{C}, "rmsnorm w");
  expect_shape(rstd, Shape{N}, "rmsnorm rstd");
  for (const auto& [t, name] :
       {std::pair{dx, "rmsnorm dx"}, {dout, "rmsnorm dout"}, {w, "rmsnorm w"}, {rstd, "rmsnorm rstd"}}) {
    expect_cpu_float(t, name);
    expect_same_dtype(t, x, name, "x");
  }
  dispatch_cpu_float(x.dtype, "rmsnorm_backward_input", [&](auto zero) {
    using T = decltype(zero);
    cpu::rmsnorm_backward_input<T>(dx.ptr<T>(), dout.ptr<T>(), x.ptr<T>(), w.ptr<T>(), rstd.ptr<T>(), N, C);
  });
}

void rmsnorm_backward_weight(Tensor dw, Tensor dout, Tensor x, Tensor rstd) {
  expect_rank(x, 2, "rmsnorm x");
  expect_cpu_float(x, "rmsnorm x");
  const std::int64_t N = x.dim(0), C = x.dim(1);
  expect_shape(dw, Shape{C}, "rmsnorm dw");
  expect_shape(dout, Shape{N, C}, "rmsnorm dout");
  expect_shape(rstd, Shape{N}, "rmsnorm rstd");
  for (const auto& [t, name] : {std::pair{dw, "rmsnorm dw"}, {dout, "rmsnorm dout"}, {rstd, "rmsnorm rstd"}}) {
    expect_cpu_float(t, name);
    expect_same_dtype(t, x, name, "x");
  }
  dispatch_cpu_float(x.dtype, "rmsnorm_backward_weight", [&](auto zero) {
    using T = decltype(zero);
    cpu::rmsnorm_backward_weight<T>(dw.ptr<T>(), dout.ptr<T>(), x.ptr<T>(), rstd.ptr<T>(), N, C);
  });
}

}  // namespace mhc::ops
