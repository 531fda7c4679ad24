// Dispatch helper for CPU ops: calls fn(T{}) with T = float or double according to a tensor dtype.
#pragma once

#include "core/tensor.hpp"

namespace mhc::ops {

template <typename Fn>
void dispatch_cpu_float(DType dtype, const char* op, Fn&& fn) {
  switch (dtype) {
    case DType::f32: fn(float{}); return;
    case DType::f64: fn(double{}); return;
    default: break;
  }
  throw ShapeError(detail::concat(op, ": the CPU backend computes in f32 or f64, got ", dtype_name(dtype)));
}

}  // namespace mhc::ops
