// The GEMMs of one training step of a config (forward and backward of one micro-batch), for benchmarking the CPU
// GEMM library on the shapes our models actually run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace mhc::model {

// Row-major C (m, n) = op(A) (m, k) op(B) (k, n), op = transpose when the flag is set; `count` such products per
// micro-batch step (over all blocks).
struct GemmShape {
  std::string use;  // e.g. "attn q/k/v fwd", "mlp w_gate/w_up dW"
  std::int64_t m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  std::int64_t count = 0;
  double flops() const { return 2.0 * static_cast<double>(m * n * k); }
};

// Linear layers (forward, input gradient, weight gradient), the output head, and the skinny connection products
// (mHC coefficient backward, HC coefficients, the head-merge gate) as ops::cpu calls them.
std::vector<GemmShape> step_gemm_shapes(const config::Config& cfg);

}  // namespace mhc::model
