// Generator of the synthetic copy / recall / modular-sum task.
#include "data/synthetic.hpp"

#include <vector>

#include "core/rng.hpp"

namespace mhc::data {

namespace {

enum : std::int32_t { kCopy = 1, kSep = 2, kRecall = 3, kQuery = 4, kSum = 5, kEq = 6, kEnd = 7 };
constexpr std::int32_t kSymbolBase = 16, kKeyBase = 80, kValueBase = 144, kDigitBase = 208;
constexpr std::int32_t kSymbols = 64, kKeys = 64, kValues = 64, kModulus = 32;

// Sequential draws from the counter RNG: draw j of sequence i uses counter i * 2^20 + j.
class Draws {
 public:
  Draws(const CounterRng& rng, std::uint64_t index) : rng_(rng), next_(index << 20) {}
  std::int32_t below(std::int32_t n) { return static_cast<std::int32_t>(rng_.below(next_++, static_cast<std::uint64_t>(n))); }
  std::int32_t between(std::int32_t lo, std::int32_t hi) { return lo + below(hi - lo + 1); }

 private:
  const CounterRng& rng_;
  std::uint64_t next_;
};

void copy_segment(Draws& d, std::vector<std::int32_t>& s) {
  const std::int32_t k = d.between(3, 10);
  std::vector<std::int32_t> sym(static_cast<std::size_t>(k));
  for (auto& v : sym) v = kSymbolBase + d.below(kSymbols);
  s.push_back(kCopy);
  s.insert(s.end(), sym.begin(), sym.end());
  s.push_back(kSep);
  s.insert(s.end(), sym.begin(), sym.end());
  s.push_back(kEnd);
}

void recall_segment(Draws& d, std::vector<std::int32_t>& s) {
  const std::int32_t m = d.between(2, 8);
  std::vector<std::int32_t> keys, values;
  while (static_cast<std::int32_t>(keys.size()) < m) {
    const std::int32_t k = kKeyBase + d.below(kKeys);
    bool fresh = true;
    for (std::int32_t seen : keys) fresh = fresh && seen != k;
    if (fresh) {
      keys.push_back(k);
      values.push_back(kValueBase + d.below(kValues));
    }
  }
  s.push_back(kRecall);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    s.push_back(keys[i]);
    s.push_back(values[i]);
  }
  const auto q = static_cast<std::size_t>(d.below(m));
  s.push_back(kQuery);
  s.push_back(keys[q]);
  s.push_back(values[q]);
  s.push_back(kEnd);
}

void modsum_segment(Draws& d, std::vector<std::int32_t>& s) {
  const std::int32_t j = d.between(2, 4);
  std::int32_t sum = 0;
  s.push_back(kSum);
  for (std::int32_t i = 0; i < j; ++i) {
    const std::int32_t digit = d.below(kModulus);
    sum = (sum + digit) % kModulus;
    s.push_back(kDigitBase + digit);
  }
  s.push_back(kEq);
  s.push_back(kDigitBase + sum);
  s.push_back(kEnd);
}

}  // namespace

void synthetic_sequence(std::uint64_t seed, const std::string& split, std::uint64_t index, std::int64_t length,
                        std::int32_t* out) {
  const CounterRng rng(seed, "synthetic/" + split);
  Draws d(rng, index);
  std::vector<std::int32_t> s;
  s.reserve(static_cast<std::size_t>(length) + 32);
  while (static_cast<std::int64_t>(s.size()) < length) {
    switch (d.below(3)) {
      case 0: copy_segment(d, s); break;
      case 1: recall_segment(d, s); break;
      default: modsum_segment(d, s); break;
    }
  }
  for (std::int64_t t = 0; t < length; ++t) out[t] = s[static_cast<std::size_t>(t)];
}

}  // namespace mhc::data
