// Checked entry points of SwiGLU; dispatch to the CPU oracle or the CUDA kernels.
#include "ops/swiglu.hpp"

#include <initializer_list>
#include <utility>

#include "kernels/swiglu.hpp"
#include "ops/cpu/swiglu_cpu.hpp"
#include "ops/bf16_staging.hpp"
#include "ops/device_dispatch.hpp"
#include "ops/dispatch.hpp"

namespace mhc::ops {

namespace {

// gate (N, F) f32 or f64 on any device, and each other tensor of its shape, dtype and device.
void check_like_gate(const Tensor& gate, std::initializer_list<std::pair<Tensor, const char*>> others) {
  expect_rank(gate, 2, "swiglu gate");
  expect_float(gate, "swiglu gate");
  for (const auto& [t, name] : others) {
    expect_shape(t, gate.shape, name);
    expect_float(t, name);
    expect_same_dtype(t, gate, name, "gate");
    expect_device(t, gate.device, name);
  }
}

}  // namespace

void swiglu_forward(Tensor out_bf16, Tensor gate_bf16, Tensor up_bf16) {
  Bf16Staging bf16("swiglu_forward");
  const Tensor out = bf16.output(out_bf16), gate = bf16.input(gate_bf16), up = bf16.input(up_bf16);
  check_like_gate(gate, {{up, "swiglu up"}, {out, "swiglu out"}});
  if (on_cuda(gate, "swiglu_forward")) {
    kernels::launch_swiglu_forward(out.ptr<float>(), gate.ptr<float>(), up.ptr<float>(), gate.numel(), current_stream());
    return;
  }
  dispatch_cpu_float(gate.dtype, "swiglu_forward", [&](auto zero) {
    using T = decltype(zero);
    cpu::swiglu_forward<T>(out.ptr<T>(), gate.ptr<T>(), up.ptr<T>(), gate.numel());
  });
  bf16.finish();
}

void swiglu_backward(Tensor dgate_bf16, Tensor dup_bf16, Tensor dout_bf16, Tensor gate_bf16, Tensor up_bf16) {
  Bf16Staging bf16("swiglu_backward");
  const Tensor dgate = bf16.output(dgate_bf16), dup = bf16.output(dup_bf16), dout = bf16.input(dout_bf16);
  const Tensor gate = bf16.input(gate_bf16), up = bf16.input(up_bf16);
  check_like_gate(gate, {{up, "swiglu up"}, {dout, "swiglu dout"}, {dgate, "swiglu dgate"}, {dup, "swiglu dup"}});
  MHC_CHECK(dgate_bf16.data != dup_bf16.data || dgate.numel() == 0, ShapeError, "dgate and dup must not alias");
  if (on_cuda(gate, "swiglu_backward")) {
    kernels::launch_swiglu_backward(dgate.ptr<float>(), dup.ptr<float>(), dout.ptr<float>(), gate.ptr<float>(),
                                    up.ptr<float>(), gate.numel(), current_stream());
    return;
  }
  dispatch_cpu_float(gate.dtype, "swiglu_backward", [&](auto zero) {
    using T = decltype(zero);
    cpu::swiglu_backward<T>(dgate.ptr<T>(), dup.ptr<T>(), dout.ptr<T>(), gate.ptr<T>(), up.ptr<T>(), gate.numel());
  });
  bf16.finish();
}

}  // namespace mhc::ops
