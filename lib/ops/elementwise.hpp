// Element-wise ops: scaled sums (residual merge, gradient accumulation) and dtype conversion.
#pragma once

#include "core/tensor.hpp"

namespace mhc::ops {

// out = alpha * a + beta * b, all the same shape and dtype; out may alias a or b.
void axpby(Tensor out, float alpha, Tensor a, float beta, Tensor b);

// out = in converted to out's dtype (f32 <-> bf16, f32 <-> f64); same shape. bf16 rounds to nearest even.
void convert_dtype(Tensor out, Tensor in);

}  // namespace mhc::ops
