// Checked entry points of the fused softmax cross-entropy.
#include "ops/cross_entropy.hpp"

#include <utility>

#include "ops/cpu/cross_entropy_cpu.hpp"
#include "ops/dispatch.hpp"

namespace mhc::ops {

namespace {

// targets (N) i32 on the CPU, each < V (negative = ignored row).
void check_targets(const Tensor& targets, std::int64_t N, std::int64_t V, const char* op) {
  expect_shape(targets, Shape{N}, "xent targets");
  expect_dtype(targets, DType::i32, "xent targets");
  expect_device(targets, Device::cpu, "xent targets");
  expect_defined(targets, "xent targets");
  const std::int32_t* t = targets.ptr<std::int32_t>();
  for (std::int64_t n = 0; n < N; ++n) {
    if (t[n] >= V) {
      throw ShapeError(detail::concat(op, ": target ", t[n], " of row ", n, " is outside the vocabulary [0, V = ", V,
                                      ") (negative targets mean: ignore the row)"));
    }
  }
}

}  // namespace

void softmax_xent_forward(Tensor loss, Tensor lse, Tensor logits, Tensor targets) {
  expect_rank(logits, 2, "xent logits");
  expect_cpu_float(logits, "xent logits");
  const std::int64_t N = logits.dim(0), V = logits.dim(1);
  MHC_CHECK(V > 0, ShapeError, "xent logits: the vocabulary must not be empty, got ", logits.describe());
  for (const auto& [t, name] : {std::pair{loss, "xent loss"}, {lse, "xent lse"}}) {
    expect_shape(t, Shape{N}, name);
    expect_cpu_float(t, name);
    expect_same_dtype(t, logits, name, "logits");
  }
  check_targets(targets, N, V, "softmax_xent_forward");
  dispatch_cpu_float(logits.dtype, "softmax_xent_forward", [&](auto zero) {
    using T = decltype(zero);
    cpu::softmax_xent_forward<T>(loss.ptr<T>(), lse.ptr<T>(), logits.ptr<T>(), targets.ptr<std::int32_t>(), N, V);
  });
}

void softmax_xent_backward(Tensor dlogits, Tensor logits, Tensor lse, Tensor targets, double grad_scale) {
  expect_rank(logits, 2, "xent logits");
  expect_cpu_float(logits, "xent logits");
  const std::int64_t N = logits.dim(0), V = logits.dim(1);
  expect_shape(dlogits, logits.shape, "xent dlogits");
  expect_shape(lse, Shape{N}, "xent lse");
  for (const auto& [t, name] : {std::pair{dlogits, "xent dlogits"}, {lse, "xent lse"}}) {
    expect_cpu_float(t, name);
    expect_same_dtype(t, logits, name, "logits");
  }
  check_targets(targets, N, V, "softmax_xent_backward");
  dispatch_cpu_float(logits.dtype, "softmax_xent_backward", [&](auto zero) {
    using T = decltype(zero);
    cpu::softmax_xent_backward<T>(dlogits.ptr<T>(), logits.ptr<T>(), lse.ptr<T>(), targets.ptr<std::int32_t>(), N, V,
                                  grad_scale);
  });
}

}  // namespace mhc::ops
