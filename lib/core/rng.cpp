// Philox4x32-10 counter-based generator and the deterministic tensor fills built on it.
#include "core/rng.hpp"

#include <cmath>

namespace mhc {

namespace {

constexpr std::uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
constexpr std::uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

template <typename T, typename Fn>
void fill_with(Tensor t, Fn&& value_of) {
  T* p = t.ptr<T>();
  const std::int64_t n = t.numel();
  for (std::int64_t k = 0; k < n; ++k) p[k] = static_cast<T>(value_of(static_cast<std::uint64_t>(k)));
}

template <typename Fn>
void fill_float(Tensor t, const char* what, Fn&& value_of) {
  expect_cpu_float(t, what);
  if (t.dtype == DType::f32) {
    fill_with<float>(t, value_of);
  } else {
    fill_with<double>(t, value_of);
  }
}

}  // namespace

std::uint64_t fnv1a64(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

CounterRng::CounterRng(std::uint64_t seed, std::string_view stream) : key_(splitmix64(seed ^ splitmix64(fnv1a64(stream)))) {}

std::array<std::uint32_t, 4> CounterRng::block(std::uint64_t i) const {
  std::uint32_t c0 = static_cast<std::uint32_t>(i), c1 = static_cast<std::uint32_t>(i >> 32), c2 = 0, c3 = 0;
  std::uint32_t k0 = static_cast<std::uint32_t>(key_), k1 = static_cast<std::uint32_t>(key_ >> 32);
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = static_cast<std::uint64_t>(kMul0) * c0;
    const std::uint64_t p1 = static_cast<std::uint64_t>(kMul1) * c2;
    const std::uint32_t n0 = static_cast<std::uint32_t>(p1 >> 32) ^ c1 ^ k0;
    const std::uint32_t n2 = static_cast<std::uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<std::uint32_t>(p1);
    c3 = static_cast<std::uint32_t>(p0);
    c0 = n0;
    c2 = n2;
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  return {c0, c1, c2, c3};
}

double CounterRng::uniform(std::uint64_t i) const {
  const auto b = block(i);
  const std::uint64_t bits = (static_cast<std::uint64_t>(b[0]) << 21) ^ b[1];  // 53 random bits
  return (static_cast<double>(bits & ((1ull << 53) - 1)) + 0.5) / 9007199254740992.0;
}

double CounterRng::normal(std::uint64_t i) const {
  const auto b = block(i);
  const double u1 = (static_cast<double>(b[0]) + 0.5) / 4294967296.0;  // (0, 1)
  const double u2 = (static_cast<double>(b[1]) + 0.5) / 4294967296.0;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

std::uint64_t CounterRng::below(std::uint64_t i, std::uint64_t n) const {
  MHC_CHECK(n > 0, Error, "empty range");
  const auto b = block(i);
  const std::uint64_t bits = (static_cast<std::uint64_t>(b[0]) << 32) | b[1];
  return bits % n;
}

void fill_normal(Tensor t, std::uint64_t seed, std::string_view name, double mean, double stddev) {
  const CounterRng rng(seed, name);
  fill_float(t, "fill_normal target", [&](std::uint64_t k) { return mean + stddev * rng.normal(k); });
}

void fill_uniform(Tensor t, std::uint64_t seed, std::string_view name, double lo, double hi) {
  const CounterRng rng(seed, name);
  fill_float(t, "fill_uniform target", [&](std::uint64_t k) { return lo + (hi - lo) * rng.uniform(k); });
}

void fill_constant(Tensor t, double value) {
  fill_float(t, "fill_constant target", [&](std::uint64_t) { return value; });
}

}  // namespace mhc
