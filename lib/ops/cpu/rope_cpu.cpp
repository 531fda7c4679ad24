// CPU RoPE rotation with a (position, pair) table of cos and sin computed in double.
#include "ops/cpu/rope_cpu.hpp"

#include <cmath>
#include <vector>

namespace mhc::ops::cpu {

template <typename T>
void rope_rotate(T* out, const T* in, std::int64_t B, std::int64_t S, std::int64_t H, std::int64_t D, double theta,
                 bool inverse) {
  const std::int64_t P = D / 2;
  std::vector<double> cos_t(static_cast<std::size_t>(S * P)), sin_t(static_cast<std::size_t>(S * P));
  for (std::int64_t i = 0; i < P; ++i) {
    const double freq = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(D));
    for (std::int64_t t = 0; t < S; ++t) {
      const double angle = static_cast<double>(t) * freq;
      cos_t[static_cast<std::size_t>(t * P + i)] = std::cos(angle);
      sin_t[static_cast<std::size_t>(t * P + i)] = inverse ? -std::sin(angle) : std::sin(angle);
    }
  }
  const std::int64_t rows = B * S;
#pragma omp parallel for schedule(static) if (rows * H * D >= (1 << 16))
  for (std::int64_t row = 0; row < rows; ++row) {
    const std::int64_t t = row % S;
    const double* c = cos_t.data() + t * P;
    const double* s = sin_t.data() + t * P;
    for (std::int64_t h = 0; h < H; ++h) {
      const T* x = in + (row * H + h) * D;
      T* o = out + (row * H + h) * D;
      for (std::int64_t i = 0; i < P; ++i) {
        const double x0 = x[2 * i], x1 = x[2 * i + 1];
        o[2 * i] = static_cast<T>(x0 * c[i] - x1 * s[i]);
        o[2 * i + 1] = static_cast<T>(x0 * s[i] + x1 * c[i]);
      }
    }
  }
}

template void rope_rotate<float>(float*, const float*, std::int64_t, std::int64_t, std::int64_t, std::int64_t, double,
                                 bool);
template void rope_rotate<double>(double*, const double*, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                                  double, bool);

}  // namespace mhc::ops::cpu
