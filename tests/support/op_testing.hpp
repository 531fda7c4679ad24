// Test support for op tests: tensor copies and conversions, i32 id tensors, and a typed error check.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <vector>

#include "core/host_tensor.hpp"
#include "ops/elementwise.hpp"

namespace mhc::test {

// A new host tensor holding a copy of t (same dtype and shape).
inline HostTensor clone(const Tensor& t) {
  HostTensor c(t.dtype, t.shape);
  if (t.bytes() > 0) std::memcpy(c.view().data, t.data, static_cast<std::size_t>(t.bytes()));
  return c;
}

// A new host tensor holding t converted to `dtype` (f32 <-> f64).
inline HostTensor converted(const Tensor& t, DType dtype) {
  HostTensor c(dtype, t.shape);
  ops::convert_dtype(c, t);
  return c;
}

// A 1-D i32 tensor with the given values (token ids, targets).
inline HostTensor i32_tensor(const std::vector<std::int32_t>& values) {
  HostTensor t(DType::i32, Shape{static_cast<std::int64_t>(values.size())});
  for (std::size_t k = 0; k < values.size(); ++k) t.ptr<std::int32_t>()[k] = values[k];
  return t;
}

}  // namespace mhc::test

// expr throws mhc::ShapeError whose message contains `text` (e.g. the name of the offending argument).
#define CHECK_SHAPE_ERROR(expr, text)                          \
  do {                                                         \
    CHECK_THROWS_AS(expr, ::mhc::ShapeError);                  \
    CHECK_THROWS_WITH(expr, Catch::Contains(text));            \
  } while (0)
