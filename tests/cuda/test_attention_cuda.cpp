// [cuda] causal attention kernels (f32) vs the CPU oracle in f64 on the same f32 inputs, through ops::attention_*.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <vector>

#include "cuda/device_support.hpp"
#include "cuda/f32_inputs.hpp"
#include "cuda/sum_tolerance.hpp"
#include "ops/attention.hpp"
#include "ops/cases/attention.hpp"

using namespace mhc;
using namespace mhc::test;

namespace {

// Tolerances. The oracle runs in f64 on the kernels' f32 inputs (its own error is negligible), so the difference
// is the kernels' f32 rounding. Each output is compared with check_sum_close, i.e. within c * bound, c = 8 sqrt(L) u
// (u = 2^-24, L = D + T: D-term dot products feeding T-term sums), where `bound` is the output's formula evaluated
// with absolute values, every f32 quantity's error propagated to first order (a running error bound):
//   score s_ij = scale q_i . k_j: error <= c Sabs_ij, Sabs_ij = scale sum_d |q_id k_jd|; E_i = max_{j<=i} Sabs_ij;
//   P_ij = exp(s_ij - lse_i): relative error <= c (E_i + 1);  lse_i: error <= c (E_i + 1 + |lse_i|);
//   out_i = sum_j P_ij v_j: error <= c (2 E_i + 2) sum_j P_ij |v_j|  (the scores', the lse's and the sums' errors);
//   dv_j = sum_i P_ij dout_i: error <= c sum_i P_ij (E_i + 2) |dout_i|;
//   dS_ij = P_ij (dP_ij - D_i): error <= c Z_ij, Z_ij = P_ij ((E_i + 2) |dP_ij - D_i| + G_ij + R_i) with
//     G_ij = sum_d |dout_id v_jd| (dP's dot) and R_i = sum_d |dout_id out_id| (D_i's dot);
//   dq_i = scale sum_j dS_ij k_j: error <= c scale sum_j (Z_ij + |dS_ij|) |k_j|; dk_j likewise with q_i.
// One missing or wrong term (a key of a row, a tile) is ~|term|, while the bound is ~c L (E + 3) |term|, a few
// 1e-2 |term| at the largest L here (E ~ 10-20 with q at scale 2), so an indexing error fails by far. (In a CPU
// emulation of the kernels, dropping one key per query row or one query per key row exceeded these bounds
// 10^3 to 10^5 times, while the correct kernels used at most 3% of them.)
struct Bounds {
  HostTensor out, lse, dq, dk, dv;
};

// The bounds above from f64 copies of the inputs (q, k, v, dout) and the forward's outputs (out, lse).
Bounds error_bounds(const HostTensor& q, const HostTensor& k, const HostTensor& v, const HostTensor& dout,
                    const HostTensor& out, const HostTensor& lse) {
  const Shape shape = q.view().shape;
  const std::int64_t B = shape[0], T = shape[1], H = shape[2], D = shape[3];
  Bounds bd{HostTensor(DType::f64, shape), HostTensor(DType::f64, Shape{B, H, T}), HostTensor(DType::f64, shape),
            HostTensor(DType::f64, shape), HostTensor(DType::f64, shape)};
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  const auto at = [&](std::int64_t b, std::int64_t t, std::int64_t h, std::int64_t d) {
    return ((b * T + t) * H + h) * D + d;
  };
  const auto ij = [&](std::int64_t i, std::int64_t j) { return static_cast<std::size_t>(i * T + j); };
  const std::size_t TT = static_cast<std::size_t>(T * T);
  std::vector<double> P(TT), dS(TT), Z(TT), sabs(TT), E(static_cast<std::size_t>(T));
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t h = 0; h < H; ++h) {
      for (std::int64_t i = 0; i < T; ++i) {
        const double l = lse.get((b * H + h) * T + i);
        double delta = 0, r = 0;
        for (std::int64_t d = 0; d < D; ++d) {
          const double go = dout.get(at(b, i, h, d)) * out.get(at(b, i, h, d));
          delta += go;
          r += std::fabs(go);
        }
        double e = 0;
        std::vector<double> dp(static_cast<std::size_t>(i + 1)), g(dp.size());
        for (std::int64_t j = 0; j <= i; ++j) {
          double s = 0, sa = 0, p = 0, ga = 0;
          for (std::int64_t d = 0; d < D; ++d) {
            const double qk = q.get(at(b, i, h, d)) * k.get(at(b, j, h, d));
            const double gv = dout.get(at(b, i, h, d)) * v.get(at(b, j, h, d));
            s += qk;
            sa += std::fabs(qk);
            p += gv;
            ga += std::fabs(gv);
          }
          e = std::max(e, scale * sa);
          P[ij(i, j)] = std::exp(scale * s - l);
          dp[static_cast<std::size_t>(j)] = p;
          g[static_cast<std::size_t>(j)] = ga;
        }
        E[static_cast<std::size_t>(i)] = e;
        for (std::int64_t j = 0; j <= i; ++j) {
          const double diff = dp[static_cast<std::size_t>(j)] - delta;
          dS[ij(i, j)] = P[ij(i, j)] * diff;
          Z[ij(i, j)] = P[ij(i, j)] * ((e + 2) * std::fabs(diff) + g[static_cast<std::size_t>(j)] + r);
        }
        bd.lse.set((b * H + h) * T + i, e + 1 + std::fabs(l));
      }
      for (std::int64_t t = 0; t < T; ++t) {
        const double et = E[static_cast<std::size_t>(t)];
        for (std::int64_t d = 0; d < D; ++d) {
          double o = 0, dq = 0, dk = 0, dv = 0;
          for (std::int64_t j = 0; j <= t; ++j) {  // t as the query row i
            o += P[ij(t, j)] * std::fabs(v.get(at(b, j, h, d)));
            dq += (Z[ij(t, j)] + std::fabs(dS[ij(t, j)])) * std::fabs(k.get(at(b, j, h, d)));
          }
          for (std::int64_t i = t; i < T; ++i) {  // t as the key row j
            const double ei = E[static_cast<std::size_t>(i)];
            dv += P[ij(i, t)] * (ei + 2) * std::fabs(dout.get(at(b, i, h, d)));
            dk += (Z[ij(i, t)] + std::fabs(dS[ij(i, t)])) * std::fabs(q.get(at(b, i, h, d)));
          }
          bd.out.set(at(b, t, h, d), (2 * et + 2) * o);
          bd.dq.set(at(b, t, h, d), scale * dq);
          bd.dk.set(at(b, t, h, d), scale * dk);
          bd.dv.set(at(b, t, h, d), dv);
        }
      }
    }
  }
  return bd;
}

// c * bound per element (check_sum_close's tolerance), from the Bounds member `which` of the oracle's tensors; the
// bounds of one oracle set are computed once.
OpTolerance sum_bound(HostTensor Bounds::*which, double L, std::shared_ptr<std::map<const void*, Bounds>> cache) {
  return OpTolerance([which, L, cache](const OpHostTensors& o) {
    auto it = cache->find(&o);
    if (it == cache->end()) {
      const auto f64 = [&](const char* name) { return to_dtype(o.owned.at(name), DType::f64); };
      it = cache->emplace(&o, error_bounds(f64("q"), f64("k"), f64("v"), f64("dout"), f64("out"), f64("lse"))).first;
    }
    const HostTensor& b = it->second.*which;
    HostTensor tol(DType::f64, b.view().shape);
    for (std::int64_t k = 0; k < b.numel(); ++k) tol.set(k, sum_tolerance(b.get(k), L));
    return tol;
  });
}

// The oracle runs in f64 on the kernels' f32 inputs; the backward on both sides gets the f32-rounded forward
// outputs (the harness), so it is compared on its own. q at scale 2: scores ~ N(0, 4), so the running max of the
// online softmax moves from key tile to key tile.
void check_attention(std::int64_t B, std::int64_t T, std::int64_t H, std::int64_t D) {
  const double L = static_cast<double>(D + T);
  const auto cache = std::make_shared<std::map<const void*, Bounds>>();
  check_op_cuda(attention_case(B, T, H, D, 2.0), DType::f64,
                {{"out", sum_bound(&Bounds::out, L, cache)},
                 {"lse", sum_bound(&Bounds::lse, L, cache)},
                 {"dq", sum_bound(&Bounds::dq, L, cache)},
                 {"dk", sum_bound(&Bounds::dk, L, cache)},
                 {"dv", sum_bound(&Bounds::dv, L, cache)}});
}

}  // namespace

TEST_CASE("attention kernels match the CPU oracle", "[cuda][attention]") {
  check_attention(1, 1, 1, 16);    // T = 1
  check_attention(2, 1, 3, 64);    // T = 1, B H = 6
  check_attention(1, 37, 2, 32);   // one partial tile
  check_attention(2, 64, 2, 16);   // exactly one tile
  check_attention(1, 65, 3, 64);   // one key past the tile
  check_attention(1, 200, 2, 64);  // 4 tiles, the last of 8 rows
  check_attention(1, 200, 1, 16);
  check_attention(2, 130, 1, 128);
  check_attention(3, 50, 4, 32);   // B H = 12
  check_attention(1, 100, 2, 24);  // D padded to 32
  check_attention(1, 70, 1, 1);    // D padded to 16
  check_attention(1, 129, 1, 100); // D padded to 128
}

TEST_CASE("attention kernels repeat their bits", "[cuda][attention]") {
  const Shape shape{2, 150, 2, 64}, lse_shape{2, 2, 150};
  const HostTensor q = random_f32(shape, "cuda.attn.det.q"), k = random_f32(shape, "cuda.attn.det.k");
  const HostTensor v = random_f32(shape, "cuda.attn.det.v"), dout = random_f32(shape, "cuda.attn.det.dout");
  Arena arena = device_arena(12 * q.view().bytes() + 2 * 4 * lse_shape.numel());
  const Tensor d_q = upload(arena, q, "q"), d_k = upload(arena, k, "k"), d_v = upload(arena, v, "v");
  const Tensor d_dout = upload(arena, dout, "dout");
  const Tensor out = arena.alloc(DType::f32, shape, "out"), lse = arena.alloc(DType::f32, lse_shape, "lse");
  const Tensor out2 = arena.alloc(DType::f32, shape, "out2"), lse2 = arena.alloc(DType::f32, lse_shape, "lse2");
  ops::attention_forward(out, lse, d_q, d_k, d_v);
  ops::attention_forward(out2, lse2, d_q, d_k, d_v);
  check_close("out twice", download(out2), download(out), 0.0, 0.0);
  check_close("lse twice", download(lse2), download(lse), 0.0, 0.0);
  std::vector<Tensor> grads;
  for (const char* name : {"dq", "dk", "dv", "dq2", "dk2", "dv2"}) grads.push_back(arena.alloc(DType::f32, shape, name));
  ops::attention_backward(grads[0], grads[1], grads[2], d_dout, d_q, d_k, d_v, out, lse);
  ops::attention_backward(grads[3], grads[4], grads[5], d_dout, d_q, d_k, d_v, out, lse);
  for (int g = 0; g < 3; ++g) check_close("gradient twice", download(grads[3 + g]), download(grads[g]), 0.0, 0.0);
}

TEST_CASE("attention on CUDA checks head dimension and devices", "[cuda][attention]") {
  Arena arena = device_arena(1 << 16);
  const Shape big{1, 3, 1, 129}, big_lse{1, 1, 3};
  const Tensor q = arena.alloc(DType::f32, big, "q"), lse = arena.alloc(DType::f32, big_lse, "lse");
  CHECK_THROWS_AS(ops::attention_forward(q, lse, q, q, q), ShapeError);
  CHECK_THROWS_WITH(ops::attention_forward(q, lse, q, q, q), Catch::Contains("attention_forward"));
  CHECK_THROWS_WITH(ops::attention_backward(q, q, q, q, q, q, q, q, lse), Catch::Contains("attention_backward"));
  const Shape shape{1, 3, 2, 8}, lse_shape{1, 2, 3};
  const Tensor x = arena.alloc(DType::f32, shape, "x"), l = arena.alloc(DType::f32, lse_shape, "l");
  const HostTensor host_lse(DType::f32, lse_shape), host_x(DType::f32, shape);
  CHECK_THROWS_WITH(ops::attention_forward(x, host_lse, x, x, x), Catch::Contains("attention lse"));
  CHECK_THROWS_WITH(ops::attention_backward(x, x, x, x, x, host_x, x, x, l), Catch::Contains("attention k"));
  const Tensor empty = arena.alloc(DType::f32, Shape{0, 3, 2, 8}, "empty");
  const Tensor empty_lse = arena.alloc(DType::f32, Shape{0, 2, 3}, "empty_lse");
  CHECK_NOTHROW(ops::attention_forward(empty, empty_lse, empty, empty, empty));
  CHECK_NOTHROW(ops::attention_backward(empty, empty, empty, empty, empty, empty, empty, empty, empty_lse));
}
