// Tests of sample_token: greedy, top-k and top-p restrict the draw to the most likely tokens, in order.
#include <catch2/catch.hpp>

#include <cmath>
#include <set>
#include <vector>

#include "train/sampling.hpp"

using mhc::train::sample_token;
using mhc::train::SamplingParams;

namespace {

// The tokens drawn for u = 0, 0.01, ..., 0.99.
std::set<std::int32_t> drawn(const std::vector<float>& z, const SamplingParams& p) {
  std::set<std::int32_t> s;
  for (int i = 0; i < 100; ++i) s.insert(sample_token(z.data(), static_cast<std::int64_t>(z.size()), p, i / 100.0));
  return s;
}

}  // namespace

TEST_CASE("sample_token: greedy, top-k, top-p", "[train]") {
  // Probabilities at temperature 1 proportional to 8, 4, 2, 1, 1 (tokens 3, 0, 4, 1, 2).
  const float l2 = std::log(2.0f), l4 = std::log(4.0f), l8 = std::log(8.0f);
  const std::vector<float> z{l4, 0, 0, l8, l2};
  CHECK(sample_token(z.data(), 5, {0.0, 0, 1.0}, 0.9) == 3);
  CHECK(drawn(z, {1.0, 0, 1.0}) == std::set<std::int32_t>{0, 1, 2, 3, 4});
  CHECK(drawn(z, {1.0, 1, 1.0}) == std::set<std::int32_t>{3});
  CHECK(drawn(z, {1.0, 2, 1.0}) == std::set<std::int32_t>{0, 3});
  // top-p 0.5 of 16: token 3 alone holds it; 0.7 needs 3 and 0 (12 of 16); with top-k 3, 0.9 of 14 needs all three.
  CHECK(drawn(z, {1.0, 0, 0.5}) == std::set<std::int32_t>{3});
  CHECK(drawn(z, {1.0, 0, 0.7}) == std::set<std::int32_t>{0, 3});
  CHECK(drawn(z, {1.0, 3, 0.9}) == std::set<std::int32_t>{0, 3, 4});
  // u runs over the kept tokens most likely first: with top-k 2 (8 and 4 of 12) u < 2/3 gives token 3.
  CHECK(sample_token(z.data(), 5, {1.0, 2, 1.0}, 0.66) == 3);
  CHECK(sample_token(z.data(), 5, {1.0, 2, 1.0}, 0.67) == 0);
}
