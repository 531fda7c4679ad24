// Tests of the tiled CPU attention (lib/ops/cpu/attention_cpu.cpp): forward and backward against a naive f64
// reference at shapes with partial, single and many tiles (the tile is 32 positions), head dimensions that are not
// multiples of the vector width, and bitwise equality across OpenMP thread counts and repeated runs.
#include <catch2/catch.hpp>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <vector>

#include "ops/attention.hpp"
#include "support/gradcheck.hpp"
#include "support/op_testing.hpp"

using namespace mhc;
using namespace mhc::test;

namespace {

struct Reference {
  std::vector<double> out, lse, dq, dk, dv;
};

// Every causal score row materialised in double; the gradients by the textbook formulas dv_j = sum_i P_ij g_i,
// dS_ij = P_ij (g_i . v_j - sum_l P_il g_i . v_l), dq_i = c sum_j dS_ij k_j, dk_j = c sum_i dS_ij q_i.
Reference naive(const HostTensor& q, const HostTensor& k, const HostTensor& v, const HostTensor& g) {
  const Shape s = q.view().shape;
  const std::int64_t B = s[0], T = s[1], H = s[2], D = s[3];
  const double c = 1.0 / std::sqrt(static_cast<double>(D));
  const auto n = static_cast<std::size_t>(q.numel());
  Reference r{std::vector<double>(n), std::vector<double>(static_cast<std::size_t>(B * H * T)), std::vector<double>(n),
              std::vector<double>(n), std::vector<double>(n)};
  auto at = [&](std::int64_t b, std::int64_t t, std::int64_t h, std::int64_t d) {
    return static_cast<std::size_t>(((b * T + t) * H + h) * D + d);
  };
  auto dot = [&](const HostTensor& x, std::int64_t b, std::int64_t i, const HostTensor& y, std::int64_t j,
                 std::int64_t h) {
    double acc = 0;
    for (std::int64_t d = 0; d < D; ++d)
      acc += x.get(static_cast<std::int64_t>(at(b, i, h, d))) * y.get(static_cast<std::int64_t>(at(b, j, h, d)));
    return acc;
  };
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t i = 0; i < T; ++i) {
        std::vector<double> p(static_cast<std::size_t>(i + 1)), dp(static_cast<std::size_t>(i + 1));
        double m = -INFINITY;
        for (std::int64_t j = 0; j <= i; ++j) {
          p[static_cast<std::size_t>(j)] = c * dot(q, b, i, k, j, h);
          m = std::fmax(m, p[static_cast<std::size_t>(j)]);
        }
        double z = 0;
        for (double& x : p) z += (x = std::exp(x - m));
        for (double& x : p) x /= z;
        r.lse[static_cast<std::size_t>((b * H + h) * T + i)] = m + std::log(z);
        double delta = 0;
        for (std::int64_t j = 0; j <= i; ++j) {
          const auto jj = static_cast<std::size_t>(j);
          dp[jj] = dot(g, b, i, v, j, h);
          delta += p[jj] * dp[jj];
        }
        for (std::int64_t j = 0; j <= i; ++j) {
          const auto jj = static_cast<std::size_t>(j);
          const double ds = p[jj] * (dp[jj] - delta);
          for (std::int64_t d = 0; d < D; ++d) {
            const auto id = at(b, i, h, d), jd = at(b, j, h, d);
            r.out[id] += p[jj] * v.get(static_cast<std::int64_t>(jd));
            r.dv[jd] += p[jj] * g.get(static_cast<std::int64_t>(id));
            r.dq[id] += c * ds * k.get(static_cast<std::int64_t>(jd));
            r.dk[jd] += c * ds * q.get(static_cast<std::int64_t>(id));
          }
        }
      }
  return r;
}

// Largest |t - ref| relative to max(1, max |ref|).
double rel_err(const HostTensor& t, const std::vector<double>& ref) {
  REQUIRE(static_cast<std::size_t>(t.numel()) == ref.size());
  double m = 0, scale = 1;
  for (std::size_t e = 0; e < ref.size(); ++e) {
    m = std::fmax(m, std::fabs(t.get(static_cast<std::int64_t>(e)) - ref[e]));
    scale = std::fmax(scale, std::fabs(ref[e]));
  }
  return m / scale;
}

struct Result {
  HostTensor out, lse, dq, dk, dv;
};

// Forward then backward of `dtype` inputs converted from the f64 q, k, v, g; the gradients start as garbage.
Result run(const HostTensor& q, const HostTensor& k, const HostTensor& v, const HostTensor& g, DType dtype) {
  const Shape s = q.view().shape;
  HostTensor qx = converted(q, dtype), kx = converted(k, dtype), vx = converted(v, dtype), gx = converted(g, dtype);
  Result r{HostTensor(dtype, s), HostTensor(dtype, Shape{s[0], s[2], s[1]}),
           converted(random_tensor(s, "junk1", 9), dtype), converted(random_tensor(s, "junk2", 9), dtype),
           converted(random_tensor(s, "junk3", 9), dtype)};
  ops::attention_forward(r.out, r.lse, qx, kx, vx);
  ops::attention_backward(r.dq, r.dk, r.dv, gx, qx, kx, vx, r.out, r.lse);
  return r;
}

std::vector<unsigned char> bytes(const HostTensor& t) {
  const Tensor& view = t.view();
  std::vector<unsigned char> b(static_cast<std::size_t>(view.bytes()));
  if (!b.empty()) std::memcpy(b.data(), view.data, b.size());
  return b;
}

std::vector<std::vector<unsigned char>> all_bytes(const Result& r) {
  return {bytes(r.out), bytes(r.lse), bytes(r.dq), bytes(r.dk), bytes(r.dv)};
}

}  // namespace

TEST_CASE("tiled CPU attention matches a naive f64 reference on partial and multiple tiles", "[cpu][attention]") {
  // (B, T, H, D): T = 1, T below one tile, exactly one tile, one past it, several tiles with a partial last one;
  // D not a multiple of the 8-element padding (5, 24 is 3 f32 vectors), and the models' 64.
  const std::vector<Shape> shapes{{1, 1, 1, 8},  {2, 1, 3, 5},   {1, 7, 2, 8},  {2, 31, 1, 24}, {1, 32, 2, 64},
                                  {1, 33, 1, 8}, {2, 45, 3, 24}, {1, 64, 1, 5}, {1, 97, 2, 64}};
  for (const Shape& s : shapes) {
    INFO("shape " << s[0] << " x " << s[1] << " x " << s[2] << " x " << s[3]);
    const HostTensor q = random_tensor(s, "q", 1.5), k = random_tensor(s, "k", 1.5), v = random_tensor(s, "v");
    const HostTensor g = random_tensor(s, "dout");
    const Reference ref = naive(q, k, v, g);
    const Result r64 = run(q, k, v, g, DType::f64);
    CHECK(rel_err(r64.out, ref.out) < 1e-13);
    CHECK(rel_err(r64.lse, ref.lse) < 1e-13);
    CHECK(rel_err(r64.dq, ref.dq) < 1e-12);
    CHECK(rel_err(r64.dk, ref.dk) < 1e-12);
    CHECK(rel_err(r64.dv, ref.dv) < 1e-12);
    const Result r32 = run(q, k, v, g, DType::f32);
    CHECK(rel_err(r32.out, ref.out) < 2e-6);
    CHECK(rel_err(r32.lse, ref.lse) < 2e-6);
    CHECK(rel_err(r32.dq, ref.dq) < 1e-5);
    CHECK(rel_err(r32.dk, ref.dk) < 1e-5);
    CHECK(rel_err(r32.dv, ref.dv) < 1e-5);
  }
}

TEST_CASE("tiled CPU attention gradients against finite differences across a tile boundary", "[cpu][attention]") {
  const Shape s{1, 35, 1, 5};  // two key tiles, the second partial
  HostTensor q = random_tensor(s, "q", 1.5), k = random_tensor(s, "k", 1.5), v = random_tensor(s, "v");
  const HostTensor g = random_tensor(s, "dout");
  HostTensor out(DType::f64, s), lse(DType::f64, Shape{1, 1, 35});
  ops::attention_forward(out, lse, q, k, v);
  HostTensor dq(DType::f64, s), dk(DType::f64, s), dv(DType::f64, s);
  ops::attention_backward(dq, dk, dv, g, q, k, v, out, lse);
  auto loss = [&] {
    HostTensor o(DType::f64, s), l(DType::f64, Shape{1, 1, 35});
    ops::attention_forward(o, l, q, k, v);
    return dot(g, o);
  };
  check_gradient("q", q, dq, loss);
  check_gradient("k", k, dk, loss);
  check_gradient("v", v, dv, loss);
}

TEST_CASE("tiled CPU attention is bitwise identical with 1 and 2 OpenMP threads and run to run",
          "[cpu][attention][threads]") {
  // B H = 5 heads: an uneven split over 2 threads; T = 70: three query tiles, the last partial.
  const Shape s{5, 70, 1, 24};
  const HostTensor q = random_tensor(s, "q", 1.5), k = random_tensor(s, "k", 1.5), v = random_tensor(s, "v");
  const HostTensor g = random_tensor(s, "dout");
  for (const DType dtype : {DType::f32, DType::f64}) {
    INFO((dtype == DType::f32 ? "f32" : "f64"));
    auto with_threads = [&](int threads) {
      const int before = omp_get_max_threads();
      omp_set_num_threads(threads);
      const Result r = run(q, k, v, g, dtype);
      omp_set_num_threads(before);
      return all_bytes(r);
    };
    const auto one = with_threads(1), two = with_threads(2), again = with_threads(2);
    CHECK(one == two);
    CHECK(two == again);
  }
}
