// Checked entry points of the causal attention core; dispatch to the CPU oracle or the CUDA kernels.
#include "ops/attention.hpp"

#include <utility>

#include "kernels/attention.hpp"
#include "ops/cpu/attention_cpu.hpp"
#include "ops/bf16_staging.hpp"
#include "ops/device_dispatch.hpp"
#include "ops/dispatch.hpp"

namespace mhc::ops {

namespace {

// q (B, T, H, D) f32 or f64 on any device.
void check_q(const Tensor& q) {
  expect_rank(q, 4, "attention q");
  expect_float(q, "attention q");
}

// Every tensor in `ts` must have `shape` and the dtype and device of `ref`.
void expect_all(std::initializer_list<std::pair<Tensor, const char*>> ts, const Shape& shape, const Tensor& ref,
                const char* ref_name) {
  for (const auto& [t, name] : ts) {
    expect_shape(t, shape, name);
    expect_float(t, name);
    expect_same_dtype(t, ref, name, ref_name);
    expect_device(t, ref.device, name);
  }
}

}  // namespace

void attention_forward(Tensor out_bf16, Tensor lse, Tensor q_bf16, Tensor k_bf16, Tensor v_bf16) {
  Bf16Staging bf16("attention_forward");
  const Tensor out = bf16.output(out_bf16), q = bf16.input(q_bf16), k = bf16.input(k_bf16), v = bf16.input(v_bf16);
  check_q(q);
  const std::int64_t B = q.dim(0), T = q.dim(1), H = q.dim(2), D = q.dim(3);
  MHC_CHECK(D > 0, ShapeError, "attention q: head dimension D must be > 0, got ", q.describe());
  expect_all({{k, "attention k"}, {v, "attention v"}, {out, "attention out"}}, q.shape, q, "q");
  expect_all({{lse, "attention lse"}}, Shape{B, H, T}, q, "q");
  if (on_cuda(q, "attention_forward")) {
    kernels::launch_attention_forward(out.ptr<float>(), lse.ptr<float>(), q.ptr<float>(), k.ptr<float>(),
                                      v.ptr<float>(), B, T, H, D, current_stream());
    return;
  }
  dispatch_cpu_float(q.dtype, "attention_forward", [&](auto zero) {
    using S = decltype(zero);
    cpu::attention_forward<S>(out.ptr<S>(), lse.ptr<S>(), q.ptr<S>(), k.ptr<S>(), v.ptr<S>(), B, T, H, D);
  });
  bf16.finish();
}

void attention_backward(Tensor dq_bf16, Tensor dk_bf16, Tensor dv_bf16, Tensor dout_bf16, Tensor q_bf16,
                        Tensor k_bf16, Tensor v_bf16, Tensor out_bf16, Tensor lse) {
  Bf16Staging bf16("attention_backward");
  const Tensor dq = bf16.output(dq_bf16), dk = bf16.output(dk_bf16), dv = bf16.output(dv_bf16);
  const Tensor dout = bf16.input(dout_bf16), q = bf16.input(q_bf16), k = bf16.input(k_bf16), v = bf16.input(v_bf16);
  const Tensor out = bf16.input(out_bf16);
  check_q(q);
  const std::int64_t B = q.dim(0), T = q.dim(1), H = q.dim(2), D = q.dim(3);
  expect_all({{k, "attention k"},
              {v, "attention v"},
              {out, "attention out"},
              {dout, "attention dout"},
              {dq, "attention dq"},
              {dk, "attention dk"},
              {dv, "attention dv"}},
             q.shape, q, "q");
  expect_all({{lse, "attention lse"}}, Shape{B, H, T}, q, "q");
  if (on_cuda(q, "attention_backward")) {
    kernels::launch_attention_backward(dq.ptr<float>(), dk.ptr<float>(), dv.ptr<float>(), dout.ptr<float>(),
                                       q.ptr<float>(), k.ptr<float>(), v.ptr<float>(), out.ptr<float>(),
                                       lse.ptr<float>(), B, T, H, D, current_stream());
    return;
  }
  dispatch_cpu_float(q.dtype, "attention_backward", [&](auto zero) {
    using S = decltype(zero);
    cpu::attention_backward<S>(dq.ptr<S>(), dk.ptr<S>(), dv.ptr<S>(), dout.ptr<S>(), q.ptr<S>(), k.ptr<S>(),
                               v.ptr<S>(), out.ptr<S>(), lse.ptr<S>(), B, T, H, D);
  });
  bf16.finish();
}

}  // namespace mhc::ops
