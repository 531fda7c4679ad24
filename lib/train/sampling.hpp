// Choosing the next token from a row of logits (`mhc-train sample`).
#pragma once

#include <cstdint>

namespace mhc::train {

struct SamplingParams {
  double temperature = 0.8;  // 0 = greedy
  std::int64_t top_k = 0;    // keep the k most likely tokens; 0 = all
  double top_p = 1.0;        // then keep the smallest most-likely set holding this share of their probability
};

// The token drawn from softmax(z / temperature) over V logits restricted by top_k, then top_p, with the uniform
// draw u in [0, 1) (the most likely token first, ties by token id); the argmax at temperature 0.
std::int32_t sample_token(const float* z, std::int64_t V, const SamplingParams& p, double u);

}  // namespace mhc::train
