// Checked entry points of the fused softmax cross-entropy; dispatch to the CPU oracle or the CUDA kernels.
#include "ops/cross_entropy.hpp"

#include <vector>

#include "kernels/cross_entropy.hpp"
#include "ops/cpu/cross_entropy_cpu.hpp"
#include "ops/device_dispatch.hpp"
#include "ops/dispatch.hpp"

namespace mhc::ops {

namespace {

// targets (N) i32 on `device`, each < V (negative = ignored row); GPU targets are read through a host copy.
void check_targets(const Tensor& targets, std::int64_t N, std::int64_t V, Device device, const char* op) {
  expect_shape(targets, Shape{N}, "xent targets");
  expect_dtype(targets, DType::i32, "xent targets");
  expect_device(targets, device, "xent targets");
  expect_defined(targets, "xent targets");
  std::vector<std::int32_t> copy;
  if (device == Device::cuda) copy = download_i32(targets, "xent targets");
  const std::int32_t* t = device == Device::cuda ? copy.data() : targets.ptr<std::int32_t>();
  for (std::int64_t n = 0; n < N; ++n) {
    if (t[n] >= V) {
      throw ShapeError(detail::concat(op, ": target ", t[n], " of row ", n, " is outside the vocabulary [0, V = ", V,
                                      ") (negative targets mean: ignore the row)"));
    }
  }
}

// A float tensor of `shape` with the dtype and device of the logits.
void expect_like_logits(const Tensor& t, const Shape& shape, const Tensor& logits, const char* name) {
  expect_shape(t, shape, name);
  expect_float(t, name);
  expect_same_dtype(t, logits, name, "logits");
  expect_device(t, logits.device, name);
}

}  // namespace

void softmax_xent_forward(Tensor loss, Tensor lse, Tensor logits, Tensor targets) {
  expect_rank(logits, 2, "xent logits");
  expect_float(logits, "xent logits");
  const std::int64_t N = logits.dim(0), V = logits.dim(1);
  MHC_CHECK(V > 0, ShapeError, "xent logits: the vocabulary must not be empty, got ", logits.describe());
  expect_like_logits(loss, Shape{N}, logits, "xent loss");
  expect_like_logits(lse, Shape{N}, logits, "xent lse");
  check_targets(targets, N, V, logits.device, "softmax_xent_forward");
  if (on_cuda(logits, "softmax_xent_forward")) {
    kernels::launch_softmax_xent_forward(loss.ptr<float>(), lse.ptr<float>(), logits.ptr<float>(),
                                         targets.ptr<std::int32_t>(), N, V, current_stream());
    return;
  }
  dispatch_cpu_float(logits.dtype, "softmax_xent_forward", [&](auto zero) {
    using T = decltype(zero);
    cpu::softmax_xent_forward<T>(loss.ptr<T>(), lse.ptr<T>(), logits.ptr<T>(), targets.ptr<std::int32_t>(), N, V);
  });
}

void softmax_xent_backward(Tensor dlogits, Tensor logits, Tensor lse, Tensor targets, double grad_scale) {
  expect_rank(logits, 2, "xent logits");
  expect_float(logits, "xent logits");
  const std::int64_t N = logits.dim(0), V = logits.dim(1);
  expect_like_logits(dlogits, logits.shape, logits, "xent dlogits");
  expect_like_logits(lse, Shape{N}, logits, "xent lse");
  check_targets(targets, N, V, logits.device, "softmax_xent_backward");
  if (on_cuda(logits, "softmax_xent_backward")) {
    kernels::launch_softmax_xent_backward(dlogits.ptr<float>(), logits.ptr<float>(), lse.ptr<float>(),
                                          targets.ptr<std::int32_t>(), N, V, grad_scale, current_stream());
    return;
  }
  dispatch_cpu_float(logits.dtype, "softmax_xent_backward", [&](auto zero) {
    using T = decltype(zero);
    cpu::softmax_xent_backward<T>(dlogits.ptr<T>(), logits.ptr<T>(), lse.ptr<T>(), targets.ptr<std::int32_t>(), N, V,
                                  grad_scale);
  });
}

}  // namespace mhc::ops
