// Text generation (`mhc-train sample`): choosing the next token from a row of logits, and the generation loop.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/rng.hpp"
#include "model/model.hpp"

namespace mhc::model {

struct SamplingParams {
  double temperature = 0.8;  // 0 = greedy
  std::int64_t top_k = 0;    // keep the k most likely tokens; 0 = all
  double top_p = 1.0;        // then keep the smallest most-likely set holding this share of their probability
};

// The token drawn from softmax(z / temperature) over V logits restricted by top_k, then top_p, with the uniform
// draw u in [0, 1) (the most likely token first, ties by token id); the argmax at temperature 0.
std::int32_t sample_token(const float* z, std::int64_t V, const SamplingParams& p, double u);

// Appends `count` tokens to `tokens` (not empty), each drawn by sample_token from the logits at the last position
// of the last seq_len tokens (the window zero-padded on the right when shorter), draw k with u = rng.uniform(k);
// calls on_token(id) after each. `model` holds one row (batch 1), on any device.
void generate(Model& model, std::vector<std::int32_t>& tokens, std::int64_t count, const SamplingParams& p,
              const CounterRng& rng, const std::function<void(std::int32_t)>& on_token);

}  // namespace mhc::model
