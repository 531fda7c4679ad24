// CPU RoPE rotation with a (position, pair) table of cos and sin computed in double, built once per
// (seq_len, head_dim, theta) for the process and shared by every later call.
#include "ops/cpu/rope_cpu.hpp"

#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

namespace mhc::ops::cpu {

namespace {

// cos and sin of t * theta^(-2i/D) at [t * P + i] for positions t < S and pairs i < P = D / 2.
struct RopeTable {
  std::vector<double> cos, sin;
};

std::shared_ptr<const RopeTable> build_table(std::int64_t S, std::int64_t D, double theta) {
  const std::int64_t P = D / 2;
  auto table = std::make_shared<RopeTable>();
  table->cos.resize(static_cast<std::size_t>(S * P));
  table->sin.resize(static_cast<std::size_t>(S * P));
  for (std::int64_t i = 0; i < P; ++i) {
    const double freq = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(D));
    for (std::int64_t t = 0; t < S; ++t) {
      const double angle = static_cast<double>(t) * freq;
      table->cos[static_cast<std::size_t>(t * P + i)] = std::cos(angle);
      table->sin[static_cast<std::size_t>(t * P + i)] = std::sin(angle);
    }
  }
  return table;
}

// The table of (S, D, theta), built on first use. A process sees a handful of shapes (one per model and the
// evaluation / sampling lengths); past kMaxTables distinct keys the cache is cleared and refilled, so it stays small
// (tables in use stay alive through their shared_ptr).
std::shared_ptr<const RopeTable> rope_table(std::int64_t S, std::int64_t D, double theta) {
  constexpr std::size_t kMaxTables = 64;
  using Key = std::tuple<std::int64_t, std::int64_t, double>;
  static std::mutex mutex;
  static std::map<Key, std::shared_ptr<const RopeTable>> tables;
  const Key key{S, D, theta};
  {
    const std::lock_guard<std::mutex> lock(mutex);
    if (const auto it = tables.find(key); it != tables.end()) return it->second;
  }
  std::shared_ptr<const RopeTable> table = build_table(S, D, theta);  // outside the lock; a racing twin is equal
  const std::lock_guard<std::mutex> lock(mutex);
  if (tables.size() >= kMaxTables) tables.clear();
  return tables.emplace(key, std::move(table)).first->second;
}

}  // namespace

template <typename T>
void rope_rotate(T* out, const T* in, std::int64_t B, std::int64_t S, std::int64_t H, std::int64_t D, double theta,
                 bool inverse) {
  const std::int64_t P = D / 2;
  if (B <= 0 || S <= 0 || H <= 0 || P <= 0) return;
  const std::shared_ptr<const RopeTable> table = rope_table(S, D, theta);
  const double* cos_t = table->cos.data();
  const double* sin_t = table->sin.data();
  const std::int64_t rows = B * S;
#pragma omp parallel for schedule(static) if (rows * H * D >= (1 << 16))
  for (std::int64_t row = 0; row < rows; ++row) {
    const std::int64_t t = row % S;
    const double* c = cos_t + t * P;
    const double* s = sin_t + t * P;
    for (std::int64_t h = 0; h < H; ++h) {
      const T* x = in + (row * H + h) * D;
      T* o = out + (row * H + h) * D;
      for (std::int64_t i = 0; i < P; ++i) {
        const double sn = inverse ? -s[i] : s[i];  // the inverse rotates by -angle: sin(-a) = -sin(a) exactly
        const double x0 = x[2 * i], x1 = x[2 * i + 1];
        o[2 * i] = static_cast<T>(x0 * c[i] - x1 * sn);
        o[2 * i + 1] = static_cast<T>(x0 * sn + x1 * c[i]);
      }
    }
  }
}

template void rope_rotate<float>(float*, const float*, std::int64_t, std::int64_t, std::int64_t, std::int64_t, double,
                                 bool);
template void rope_rotate<double>(double*, const double*, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                                  double, bool);

}  // namespace mhc::ops::cpu
