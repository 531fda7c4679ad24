// Checked entry points of SwiGLU.
#include "ops/swiglu.hpp"

#include <utility>

#include "ops/cpu/swiglu_cpu.hpp"
#include "ops/dispatch.hpp"

namespace mhc::ops {

void swiglu_forward(Tensor out, Tensor gate, Tensor up) {
  expect_rank(gate, 2, "swiglu gate");
  expect_cpu_float(gate, "swiglu gate");
  for (const auto& [t, name] : {std::pair{up, "swiglu up"}, {out, "swiglu out"}}) {
    expect_shape(t, gate.shape, name);
    expect_cpu_float(t, name);
    expect_same_dtype(t, gate, name, "gate");
  }
  dispatch_cpu_float(gate.dtype, "swiglu_forward", [&](auto zero) {
    using T = decltype(zero);
    cpu::swiglu_forward<T>(out.ptr<T>(), gate.ptr<T>(), up.ptr<T>(), gate.numel());
  });
}

void swiglu_backward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up) {
  expect_rank(gate, 2, "swiglu gate");
  expect_cpu_float(gate, "swiglu gate");
  for (const auto& [t, name] :
       {std::pair{up, "swiglu up"}, {dout, "swiglu dout"}, {dgate, "swiglu dgate"}, {dup, "swiglu dup"}}) {
    expect_shape(t, gate.shape, name);
    expect_cpu_float(t, name);
    expect_same_dtype(t, gate, name, "gate");
  }
  MHC_CHECK(dgate.data != dup.data || dgate.numel() == 0, ShapeError, "dgate and dup must not alias");
  dispatch_cpu_float(gate.dtype, "swiglu_backward", [&](auto zero) {
    using T = decltype(zero);
    cpu::swiglu_backward<T>(dgate.ptr<T>(), dup.ptr<T>(), dout.ptr<T>(), gate.ptr<T>(), up.ptr<T>(), gate.numel());
  });
}

}  // namespace mhc::ops
