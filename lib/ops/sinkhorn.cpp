// Checked entry points of Sinkhorn-Knopp; dispatch to the CPU oracle or the CUDA kernel.
#include "ops/sinkhorn.hpp"

#include "kernels/sinkhorn.hpp"
#include "ops/cpu/sinkhorn_cpu.hpp"
#include "ops/device_dispatch.hpp"
#include "ops/dispatch.hpp"

namespace mhc::ops {

namespace {

// Checks logits (N, n, n) with 1 <= n <= kSinkhornMaxStreams and iters >= 1; returns n.
int check_logits(const Tensor& logits, int iters, const char* what) {
  expect_rank(logits, 3, what);
  expect_float(logits, what);
  const std::int64_t n = logits.dim(1);
  MHC_CHECK(logits.dim(2) == n, ShapeError, what, " must be (N, n, n), got ", logits.describe());
  MHC_CHECK(n >= 1 && n <= kSinkhornMaxStreams, ShapeError, what, ": n = ", n, " outside [1, ", kSinkhornMaxStreams,
            "]");
  MHC_CHECK(iters >= 1, ShapeError, what, ": iters must be >= 1, got ", iters);
  return static_cast<int>(n);
}

// Same shape, dtype and device as the logits.
void expect_like(const Tensor& t, const Tensor& logits, const char* what) {
  expect_defined(t, what);
  expect_shape(t, logits.shape, what);
  expect_same_dtype(t, logits, what, "logits");
  expect_device(t, logits.device, what);
}

}  // namespace

void sinkhorn_forward(Tensor h, Tensor logits, int iters) {
  const int n = check_logits(logits, iters, "sinkhorn_forward logits");
  expect_like(h, logits, "sinkhorn_forward h");
  const std::int64_t N = logits.dim(0);
  if (on_cuda(logits, "sinkhorn_forward")) {
    kernels::launch_sinkhorn_forward(h.ptr<float>(), logits.ptr<float>(), N, n, iters, current_stream());
    return;
  }
  dispatch_cpu_float(logits.dtype, "sinkhorn_forward", [&](auto zero) {
    using T = decltype(zero);
    cpu::sinkhorn_forward<T>(h.ptr<T>(), logits.ptr<T>(), N, n, iters, static_cast<T>(kSinkhornEps));
  });
}

void sinkhorn_backward(Tensor dlogits, Tensor dh, Tensor logits, int iters) {
  const int n = check_logits(logits, iters, "sinkhorn_backward logits");
  expect_like(dlogits, logits, "sinkhorn_backward dlogits");
  expect_like(dh, logits, "sinkhorn_backward dh");
  const std::int64_t N = logits.dim(0);
  if (on_cuda(logits, "sinkhorn_backward")) {
    kernels::launch_sinkhorn_backward(dlogits.ptr<float>(), dh.ptr<float>(), logits.ptr<float>(), N, n, iters,
                                      current_stream());
    return;
  }
  dispatch_cpu_float(logits.dtype, "sinkhorn_backward", [&](auto zero) {
    using T = decltype(zero);
    cpu::sinkhorn_backward<T>(dlogits.ptr<T>(), dh.ptr<T>(), logits.ptr<T>(), N, n, iters,
                              static_cast<T>(kSinkhornEps));
  });
}

}  // namespace mhc::ops
