// Choosing the next token from a row of logits: greedy, temperature, top-k and top-p (nucleus) sampling.
#include "train/sampling.hpp"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

namespace mhc::train {

// Greedy at temperature 0; else softmax(z / temperature) restricted to the
// top_k most likely tokens (0 = all), then to the smallest most-likely set of those holding top_p of their
// probability, and one draw u in [0, 1) over what is left (ties ordered by token id).
std::int32_t sample_token(const float* z, std::int64_t V, const SamplingParams& f, double u) {
  if (f.temperature <= 0) return static_cast<std::int32_t>(std::max_element(z, z + V) - z);
  const double mx = *std::max_element(z, z + V);
  std::vector<std::pair<double, std::int32_t>> p(static_cast<std::size_t>(V));
  for (std::int64_t v = 0; v < V; ++v)
    p[static_cast<std::size_t>(v)] = {std::exp((z[v] - mx) / f.temperature), static_cast<std::int32_t>(v)};
  std::stable_sort(p.begin(), p.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::size_t keep = f.top_k > 0 ? std::min<std::size_t>(static_cast<std::size_t>(f.top_k), p.size()) : p.size();
  double top_k_mass = 0, kept = 0;
  for (std::size_t i = 0; i < keep; ++i) top_k_mass += p[i].first;
  for (std::size_t i = 0; i < keep; ++i) {
    kept += p[i].first;
    if (kept >= f.top_p * top_k_mass) {
      keep = i + 1;
      break;
    }
  }
  double r = u * kept;
  for (std::size_t i = 0; i + 1 < keep; ++i)
    if ((r -= p[i].first) < 0) return p[i].second;
  return p[keep - 1].second;
}

}  // namespace mhc::train
