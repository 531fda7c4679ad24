// Support for the [cuda] op tests: random f32 host inputs (and, through op_testing.hpp, host copies).
#pragma once

#include <string>

#include "core/host_tensor.hpp"
#include "support/gradcheck.hpp"
#include "support/mhc_inputs.hpp"
#include "support/op_testing.hpp"  // clone

namespace mhc::test {

// A host f32 tensor of N(0, scale^2) values from the counter RNG keyed by `name`.
inline HostTensor random_f32(Shape shape, const std::string& name, double scale = 1.0) {
  return to_dtype(random_tensor(shape, name, scale), DType::f32);
}

}  // namespace mhc::test
