// Tests of sample_token (greedy, top-k and top-p restrict the draw to the most likely tokens, in order) and of the
// generation loop.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "model/sampling.hpp"
#include "model_test_util.hpp"

using mhc::model::sample_token;
using mhc::model::SamplingParams;

namespace {

// The tokens drawn for u = 0, 0.01, ..., 0.99.
std::set<std::int32_t> drawn(const std::vector<float>& z, const SamplingParams& p) {
  std::set<std::int32_t> s;
  for (int i = 0; i < 100; ++i) s.insert(sample_token(z.data(), static_cast<std::int64_t>(z.size()), p, i / 100.0));
  return s;
}

}  // namespace

TEST_CASE("sample_token: greedy, top-k, top-p", "[model]") {
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

TEST_CASE("generate: greedy tokens are the argmax of the model's logits over the sliding window", "[model]") {
  mhc::config::Config cfg = mhc::test::tiny_config(mhc::model::connection_kind("mhc"), 4, 2);
  mhc::model::Model model(cfg, mhc::DType::f32, 5, 1);
  const std::int64_t T = cfg.model.seq_len, V = cfg.model.vocab_size;
  const std::int64_t count = T + 3;  // past the window: the oldest tokens drop out
  std::vector<std::int32_t> tokens{1, 2};
  std::vector<std::int32_t> seen;
  const mhc::CounterRng rng(9, "sample");
  mhc::model::generate(model, tokens, count, {0.0, 0, 1.0}, rng, [&](std::int32_t id) { seen.push_back(id); });
  REQUIRE(tokens.size() == static_cast<std::size_t>(2 + count));
  CHECK(std::vector<std::int32_t>(tokens.begin() + 2, tokens.end()) == seen);
  // Replay by hand: the window of the last T tokens, zero-padded on the right, and the argmax at its last position.
  for (std::int64_t k = 0; k < count; ++k) {
    const std::int64_t have = 2 + k, len = std::min(T, have);
    std::vector<std::int32_t> window(static_cast<std::size_t>(T), 0);
    std::copy(tokens.begin() + (have - len), tokens.begin() + have, window.begin());
    const mhc::Tensor logits = model.forward_logits(mhc::Tensor(window.data(), mhc::DType::i32, mhc::Shape{1, T}));
    const float* z = logits.ptr<float>() + (len - 1) * V;
    INFO("token " << k);
    CHECK(tokens[static_cast<std::size_t>(have)] == std::max_element(z, z + V) - z);
  }
  // Sampled generation is a function of (model, prompt, rng): twice the same tokens.
  std::vector<std::int32_t> a{3}, b{3};
  mhc::model::generate(model, a, 8, {1.0, 0, 1.0}, rng, [](std::int32_t) {});
  mhc::model::generate(model, b, 8, {1.0, 0, 1.0}, rng, [](std::int32_t) {});
  CHECK(a == b);
}
