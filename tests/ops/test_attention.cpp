// Tests of the causal attention core: naive T x T reference, finite-difference gradients, f32 vs f64, errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "ops/attention.hpp"
#include "ops/cases/attention.hpp"
#include "support/gradcheck.hpp"
#include "support/op_testing.hpp"

using namespace mhc;
using namespace mhc::test;

namespace {

struct Naive {
  HostTensor out, lse;
};

// Materialises every causal score row in double and applies the softmax directly.
Naive naive_attention(const HostTensor& q, const HostTensor& k, const HostTensor& v) {
  const Shape s = q.view().shape;
  const std::int64_t B = s[0], T = s[1], H = s[2], D = s[3];
  Naive r{HostTensor(DType::f64, s), HostTensor(DType::f64, Shape{B, H, T})};
  auto at = [&](std::int64_t b, std::int64_t t, std::int64_t h, std::int64_t d) { return ((b * T + t) * H + h) * D + d; };
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t i = 0; i < T; ++i) {
        std::vector<double> score(static_cast<std::size_t>(i + 1));
        double m = -INFINITY;
        for (std::int64_t j = 0; j <= i; ++j) {
          double dot_qk = 0;
          for (std::int64_t d = 0; d < D; ++d) dot_qk += q.get(at(b, i, h, d)) * k.get(at(b, j, h, d));
          score[static_cast<std::size_t>(j)] = dot_qk / std::sqrt(static_cast<double>(D));
          m = std::fmax(m, score[static_cast<std::size_t>(j)]);
        }
        double z = 0;
        for (double sc : score) z += std::exp(sc - m);
        r.lse.set((b * H + h) * T + i, m + std::log(z));
        for (std::int64_t d = 0; d < D; ++d) {
          double o = 0;
          for (std::int64_t j = 0; j <= i; ++j) o += std::exp(score[static_cast<std::size_t>(j)] - m) / z * v.get(at(b, j, h, d));
          r.out.set(at(b, i, h, d), o);
        }
      }
  return r;
}

}  // namespace

TEST_CASE("attention forward matches a naive causal softmax reference", "[cpu][attention]") {
  const Shape s{2, 7, 3, 4};
  HostTensor q = random_tensor(s, "q", 1.5), k = random_tensor(s, "k", 1.5), v = random_tensor(s, "v");
  HostTensor out(DType::f64, s), lse(DType::f64, Shape{2, 3, 7});
  ops::attention_forward(out, lse, q, k, v);
  const Naive ref = naive_attention(q, k, v);
  CHECK(max_abs_diff(out, ref.out) < 1e-13);
  CHECK(max_abs_diff(lse, ref.lse) < 1e-13);

  // Causality: changing the last position's k and v leaves every earlier output unchanged.
  HostTensor k2 = clone(k), v2 = clone(v), out2(DType::f64, s), lse2(DType::f64, Shape{2, 3, 7});
  for (std::int64_t b = 0; b < 2; ++b)
    for (std::int64_t k_el = (b * 7 + 6) * 12; k_el < (b * 7 + 7) * 12; ++k_el) {
      k2.set(k_el, 3.0);
      v2.set(k_el, -2.0);
    }
  ops::attention_forward(out2, lse2, q, k2, v2);
  for (std::int64_t b = 0; b < 2; ++b)
    for (std::int64_t el = 0; el < 6 * 12; ++el) CHECK(out2.get(b * 84 + el) == out.get(b * 84 + el));
}

TEST_CASE("attention gradients of q, k and v against finite differences; f32 agrees with f64", "[cpu][attention]") {
  check_op_gradients(attention_case(2, 5, 2, 4, 1.5, 1.5));
  check_op_f32_vs_f64(attention_case(1, 16, 2, 8), 1e-5);
}

TEST_CASE("attention rejects bad shapes and dtypes", "[cpu][attention]") {
  const Shape s{1, 3, 2, 4};
  HostTensor q(DType::f64, s), k(DType::f64, s), v(DType::f64, s), out(DType::f64, s), lse(DType::f64, Shape{1, 2, 3});
  CHECK_SHAPE_ERROR(ops::attention_forward(out, HostTensor(DType::f64, Shape{1, 3, 2}), q, k, v), "attention lse");
  CHECK_SHAPE_ERROR(ops::attention_forward(out, lse, q, HostTensor(DType::f64, Shape{1, 4, 2, 4}), v), "attention k");
  CHECK_SHAPE_ERROR(ops::attention_forward(out, lse, q, k, HostTensor(DType::f32, s)), "attention v (f32)");
  CHECK_SHAPE_ERROR(ops::attention_forward(out, lse, HostTensor(DType::f64, Shape{3, 8}), k, v), "attention q");
  CHECK_SHAPE_ERROR(ops::attention_backward(q, k, HostTensor(DType::f64, Shape{1}), out, q, k, v, out, lse),
                    "attention dv");
}
