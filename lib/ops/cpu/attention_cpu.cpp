// CPU causal attention: scores by GEMM, masked softmax with saved log-sum-exp, backward recomputing P from lse.
#include "ops/cpu/attention_cpu.hpp"

#include <cmath>
#include <limits>
#include <vector>

#include "ops/cpu/matmul_cpu.hpp"

namespace mhc::ops::cpu {

namespace {

// P (S, S) = scale * Q K^T for one (batch, head); Q and K rows are ld elements apart.
template <typename T>
void scores(T* P, const T* Q, const T* K, std::int64_t S, std::int64_t D, std::int64_t ld) {
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(D)));
  gemm<T>(false, true, S, S, D, scale, Q, ld, K, ld, T(0), P, S);
}

}  // namespace

template <typename T>
void attention_forward(T* out, T* lse, const T* q, const T* k, const T* v, std::int64_t B, std::int64_t S,
                       std::int64_t H, std::int64_t D) {
  const std::int64_t ld = H * D;
  std::vector<T> buf(static_cast<std::size_t>(S * S));
  T* P = buf.data();
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t h = 0; h < H; ++h) {
      const std::int64_t base = b * S * ld + h * D;
      scores(P, q + base, k + base, S, D, ld);
      T* lse_row = lse + (b * H + h) * S;
      for (std::int64_t i = 0; i < S; ++i) {
        T* p = P + i * S;
        double m = -std::numeric_limits<double>::infinity();
        for (std::int64_t j = 0; j <= i; ++j) m = std::fmax(m, static_cast<double>(p[j]));
        double sum = 0;
        for (std::int64_t j = 0; j <= i; ++j) sum += std::exp(p[j] - m);
        const double l = m + std::log(sum);
        lse_row[i] = static_cast<T>(l);
        for (std::int64_t j = 0; j <= i; ++j) p[j] = static_cast<T>(std::exp(p[j] - l));
        for (std::int64_t j = i + 1; j < S; ++j) p[j] = T(0);
      }
      gemm<T>(false, false, S, D, S, T(1), P, S, v + base, ld, T(0), out + base, ld);
    }
  }
}

template <typename T>
void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v, const T* out,
                        const T* lse, std::int64_t B, std::int64_t S, std::int64_t H, std::int64_t D) {
  const std::int64_t ld = H * D;
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(D)));
  std::vector<T> p_buf(static_cast<std::size_t>(S * S)), ds_buf(static_cast<std::size_t>(S * S));
  std::vector<double> row_dot(static_cast<std::size_t>(S));
  T* P = p_buf.data();
  T* dS = ds_buf.data();
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t h = 0; h < H; ++h) {
      const std::int64_t base = b * S * ld + h * D;
      const T* lse_row = lse + (b * H + h) * S;
      // D_i = sum_d dout[i, d] * out[i, d]
      for (std::int64_t i = 0; i < S; ++i) {
        const T* g = dout + base + i * ld;
        const T* o = out + base + i * ld;
        double s = 0;
        for (std::int64_t d = 0; d < D; ++d) s += static_cast<double>(g[d]) * o[d];
        row_dot[static_cast<std::size_t>(i)] = s;
      }
      scores(P, q + base, k + base, S, D, ld);
      for (std::int64_t i = 0; i < S; ++i) {
        T* p = P + i * S;
        const double l = lse_row[i];
        for (std::int64_t j = 0; j <= i; ++j) p[j] = static_cast<T>(std::exp(p[j] - l));
        for (std::int64_t j = i + 1; j < S; ++j) p[j] = T(0);
      }
      gemm<T>(true, false, S, D, S, T(1), P, S, dout + base, ld, T(0), dv + base, ld);
      gemm<T>(false, true, S, S, D, T(1), dout + base, ld, v + base, ld, T(0), dS, S);
      for (std::int64_t i = 0; i < S; ++i) {
        const T* p = P + i * S;
        T* ds = dS + i * S;
        const double di = row_dot[static_cast<std::size_t>(i)];
        for (std::int64_t j = 0; j < S; ++j) ds[j] = static_cast<T>(p[j] * (ds[j] - di));
      }
      gemm<T>(false, false, S, D, S, scale, dS, S, k + base, ld, T(0), dq + base, ld);
      gemm<T>(true, false, S, D, S, scale, dS, S, q + base, ld, T(0), dk + base, ld);
    }
  }
}

template void attention_forward<float>(float*, float*, const float*, const float*, const float*, std::int64_t,
                                       std::int64_t, std::int64_t, std::int64_t);
template void attention_forward<double>(double*, double*, const double*, const double*, const double*, std::int64_t,
                                        std::int64_t, std::int64_t, std::int64_t);
template void attention_backward<float>(float*, float*, float*, const float*, const float*, const float*,
                                        const float*, const float*, const float*, std::int64_t, std::int64_t,
                                        std::int64_t, std::int64_t);
template void attention_backward<double>(double*, double*, double*, const double*, const double*, const double*,
                                         const double*, const double*, const double*, std::int64_t, std::int64_t,
                                         std::int64_t, std::int64_t);

}  // namespace mhc::ops::cpu
