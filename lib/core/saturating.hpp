// Saturating 64-bit arithmetic for size estimates of configs that may not fit (config size limits, parameter counts).
#pragma once

#include <cstdint>
#include <limits>

namespace mhc {

constexpr std::int64_t kSaturated = std::numeric_limits<std::int64_t>::max();

// a * b and a + b for non-negative values, saturating at kSaturated instead of overflowing.
inline std::int64_t saturating_mul(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  return __builtin_mul_overflow(a, b, &r) ? kSaturated : r;
}
inline std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  return __builtin_add_overflow(a, b, &r) ? kSaturated : r;
}

}  // namespace mhc
