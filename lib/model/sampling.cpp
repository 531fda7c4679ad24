// Choosing the next token from a row of logits (greedy, temperature, top-k, top-p) and the generation loop.
#include "model/sampling.hpp"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "core/copy.hpp"
#include "core/error.hpp"

namespace mhc::model {

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

void generate(Model& model, std::vector<std::int32_t>& tokens, std::int64_t count, const SamplingParams& p,
              const CounterRng& rng, const std::function<void(std::int32_t)>& on_token) {
  MHC_CHECK(!tokens.empty(), ConfigError, "generate: no prompt token to continue from");
  const std::int64_t T = model.seq_len();
  std::vector<std::int32_t> window(static_cast<std::size_t>(T));
  std::vector<float> last;  // the logits (V) of the last filled position, on the host
  for (std::int64_t k = 0; k < count; ++k) {
    const auto len = std::min<std::int64_t>(T, static_cast<std::int64_t>(tokens.size()));
    std::fill(window.begin(), window.end(), 0);
    std::copy(tokens.end() - len, tokens.end(), window.begin());
    const Tensor logits = model.forward_logits(Tensor(window.data(), DType::i32, Shape{1, T}));  // (T, V)
    const std::int64_t V = logits.dim(1);
    last.resize(static_cast<std::size_t>(V));
    copy_tensor(Tensor(last.data(), DType::f32, Shape{1, V}), logits.slice_rows(len - 1, len));
    const std::int32_t next = sample_token(last.data(), V, p, rng.uniform(static_cast<std::uint64_t>(k)));
    tokens.push_back(next);
    on_token(next);
  }
}

}  // namespace mhc::model
