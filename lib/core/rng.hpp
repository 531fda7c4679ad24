// Counter-based RNG (Philox4x32-10): every value depends only on (seed, stream name, index), so a parameter's
// initial values are the same whichever rank, layout or order creates it.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "core/tensor.hpp"

namespace mhc {

class CounterRng {
 public:
  // `stream` is usually the global parameter name, e.g. "blocks.3.attn.wq".
  CounterRng(std::uint64_t seed, std::string_view stream);

  // Four independent 32-bit words for counter value `i`.
  std::array<std::uint32_t, 4> block(std::uint64_t i) const;
  // Uniform in the open interval (0, 1) for index i.
  double uniform(std::uint64_t i) const;
  // Standard normal for index i (Box-Muller on the first two words of block(i)).
  double normal(std::uint64_t i) const;
  // Uniform integer in [0, n) for index i (n > 0).
  std::uint64_t below(std::uint64_t i, std::uint64_t n) const;

  std::uint64_t key() const { return key_; }

 private:
  std::uint64_t key_;
};

// 64-bit FNV-1a of a string; stable across platforms.
std::uint64_t fnv1a64(std::string_view s);

// Fill a CPU f32/f64 tensor element-wise: element k gets rng(seed, name).normal(k) * stddev + mean.
void fill_normal(Tensor t, std::uint64_t seed, std::string_view name, double mean, double stddev);
// Element k gets lo + (hi - lo) * rng(seed, name).uniform(k).
void fill_uniform(Tensor t, std::uint64_t seed, std::string_view name, double lo, double hi);
// Every element set to `value`.
void fill_constant(Tensor t, double value);

}  // namespace mhc
