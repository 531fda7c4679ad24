// Test support for the mHC ops: tensors shaped like others, dtype copies, and identity-biased Sinkhorn logits.
#pragma once

#include <string>

#include "core/host_tensor.hpp"
#include "ops/elementwise.hpp"
#include "support/gradcheck.hpp"

namespace mhc::test {

// A zero-filled host tensor with t's shape.
inline HostTensor like(const HostTensor& t, DType dtype = DType::f64) { return HostTensor(dtype, t.view().shape); }

// A copy of t converted to `dtype`.
inline HostTensor to_dtype(const HostTensor& t, DType dtype) {
  HostTensor out = like(t, dtype);
  ops::convert_dtype(out, t);
  return out;
}

// Adds the "identity" bias init 6I - 3 (spec 2.3) to every (n, n) matrix of l (N, n, n).
inline void add_identity_offset(const HostTensor& l, std::int64_t n) {
  const std::int64_t N = l.numel() / (n * n);
  for (std::int64_t t = 0; t < N; ++t)
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        const std::int64_t k = (t * n + i) * n + j;
        l.set(k, l.get(k) + (i == j ? 3.0 : -3.0));
      }
}

// Logits (N, n, n) of the "identity" bias init 6I - 3 (spec 2.3) plus N(0, noise^2) noise, in f64.
inline HostTensor identity_logits(std::int64_t N, std::int64_t n, const std::string& name, double noise) {
  HostTensor l = random_tensor(Shape{N, n, n}, name, noise);
  add_identity_offset(l, n);
  return l;
}

}  // namespace mhc::test
