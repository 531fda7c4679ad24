// CPU causal attention, tiled like the CUDA kernels (kernels/attention.cu): one (batch, head) per OpenMP thread,
// kTile x kTile score tiles, an online softmax in the forward, P recomputed from the saved lse in the backward, key
// tiles above the causal diagonal skipped, and no S x S buffer (per-thread scratch of a few tiles).
//
// Numerics. The products run in T with plain multiply-then-add (no FMA at the project's flags: neither the baseline
// x86-64 target nor target("avx2") has it) in ascending order of the summed index, on 32-byte vectors that split
// only the independent output columns, so the AVX2 and baseline variants give the same bits, as do any thread
// counts (a (b, h) is computed by one thread). Softmax statistics (max, sum, lse), the exponentials (std::exp),
// dS = P (dP - delta) and the row dots delta = dout . out are in double, as before the tiling; the output
// accumulator is rescaled by exp(m_old - m_new) when a row's running max grows, as in the CUDA forward.
#include "ops/cpu/attention_cpu.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace mhc::ops::cpu {

namespace {

constexpr std::int64_t kTile = 32;  // queries (and keys) per tile
constexpr std::int64_t kRows = 4;   // rows of a register block of the tile products

template <typename T>
struct Simd;  // 32-byte vectors (AVX2 registers where the CPU has them, pairs of SSE registers otherwise)
template <>
struct Simd<float> {
  typedef float type __attribute__((vector_size(32)));
};
template <>
struct Simd<double> {
  typedef double type __attribute__((vector_size(32)));
};
template <typename T>
using Vec = typename Simd<T>::type;
template <typename T>
constexpr std::int64_t kWidth = static_cast<std::int64_t>(32 / sizeof(T));
constexpr std::int64_t kPad = 8;  // head dimensions are padded to a multiple of 8 (whole vectors for f32 and f64)

constexpr std::int64_t round_up(std::int64_t x, std::int64_t m) { return (x + m - 1) / m * m; }

#define MHC_INLINE __attribute__((always_inline)) inline

// C[m][n] (+)= sum_{k < K} A[m sam + k sak] Bm[k ldb + n] for a block of R rows and NV vectors of columns, summed in
// increasing k in registers.
template <typename T, int R, int NV>
MHC_INLINE void product_block(T* C, std::int64_t ldc, const T* A, std::int64_t sam, std::int64_t sak, const T* Bm,
                              std::int64_t ldb, std::int64_t K, bool accumulate) {
  constexpr std::int64_t W = kWidth<T>;
  Vec<T> acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < NV; ++q) {
      acc[r][q] = Vec<T>{};
      if (accumulate) std::memcpy(&acc[r][q], C + r * ldc + q * W, sizeof(Vec<T>));
    }
  for (std::int64_t k = 0; k < K; ++k) {
    Vec<T> b[NV];
    for (int q = 0; q < NV; ++q) std::memcpy(&b[q], Bm + k * ldb + q * W, sizeof(Vec<T>));
    for (int r = 0; r < R; ++r) {
      const T a = A[r * sam + k * sak];
      for (int q = 0; q < NV; ++q) acc[r][q] += a * b[q];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < NV; ++q) std::memcpy(C + r * ldc + q * W, &acc[r][q], sizeof(Vec<T>));
}

// C (M, N) (+)= A (M, K) Bm (K, N) with A(m, k) = A[m sam + k sak]; M a multiple of kRows, N of kWidth<T>.
template <typename T>
MHC_INLINE void product(T* C, std::int64_t ldc, std::int64_t M, std::int64_t N, const T* A, std::int64_t sam,
                        std::int64_t sak, const T* Bm, std::int64_t ldb, std::int64_t K, bool accumulate) {
  constexpr std::int64_t W = kWidth<T>;
  for (std::int64_t m0 = 0; m0 < M; m0 += kRows) {
    std::int64_t n0 = 0;
    for (; n0 + 2 * W <= N; n0 += 2 * W)
      product_block<T, kRows, 2>(C + m0 * ldc + n0, ldc, A + m0 * sam, sam, sak, Bm + n0, ldb, K, accumulate);
    if (n0 < N) product_block<T, kRows, 1>(C + m0 * ldc + n0, ldc, A + m0 * sam, sam, sak, Bm + n0, ldb, K, accumulate);
  }
}

// dst (rows_pad, Dp) = rows [0, n) of src (stride ld, D wide), zero in columns [D, Dp) and rows [n, rows_pad).
template <typename T>
MHC_INLINE void load_rows(T* dst, const T* src, std::int64_t ld, std::int64_t n, std::int64_t rows_pad, std::int64_t D,
                          std::int64_t Dp) {
  for (std::int64_t r = 0; r < rows_pad; ++r) {
    T* o = dst + r * Dp;
    std::int64_t d = 0;
    if (r < n) {
      std::memcpy(o, src + r * ld, static_cast<std::size_t>(D) * sizeof(T));
      d = D;
    }
    for (; d < Dp; ++d) o[d] = T(0);
  }
}

// dst (D, kTile) = the transpose of rows [0, n) of src (stride ld, D wide), zero in columns [n, kTile).
template <typename T>
MHC_INLINE void load_transposed(T* dst, const T* src, std::int64_t ld, std::int64_t n, std::int64_t D) {
  for (std::int64_t d = 0; d < D; ++d)
    for (std::int64_t c = n; c < kTile; ++c) dst[d * kTile + c] = T(0);
  for (std::int64_t c = 0; c < n; ++c)
    for (std::int64_t d = 0; d < D; ++d) dst[d * kTile + c] = src[c * ld + d];
}

// sum_d a[d] b[d] in double, in 4 fixed partial sums (d mod 4) and a fixed tree: no serial chain of D additions.
template <typename T>
MHC_INLINE double row_dot(const T* a, const T* b, std::int64_t D) {
  double lane[4] = {};
  std::int64_t d = 0;
  for (; d + 4 <= D; d += 4)
    for (int j = 0; j < 4; ++j) lane[j] += static_cast<double>(a[d + j]) * b[d + j];
  double tail = 0;
  for (; d < D; ++d) tail += static_cast<double>(a[d]) * b[d];
  return ((lane[0] + lane[2]) + (lane[1] + lane[3])) + tail;
}

// Geometry of one head: ld elements between consecutive positions, D the head dimension, Dp padded to kPad.
struct Head {
  std::int64_t S, D, Dp, ld;
};

constexpr std::int64_t forward_scratch(std::int64_t Dp) { return 4 * kTile * Dp + kTile * kTile; }
constexpr std::int64_t backward_scratch(std::int64_t Dp) { return 9 * kTile * Dp + 2 * kTile * kTile; }

// Score tiles are stored transposed, St[c][r] for key c and query r: computed as K_tile Q_tile^T from the query
// tile transposed once (Qt) and the key rows as they are, so a key tile needs only row copies. Each score is
// sum_d q[d] k[d] in ascending d, the same bits in the forward and the backward.

// One (batch, head), query tiles outer, key tiles inner up to the diagonal: out, q, k, v point at its (t = 0, d = 0)
// element, lse at its S values.
template <typename T>
MHC_INLINE void forward_head_impl(T* out, T* lse, const T* q, const T* k, const T* v, Head g, T* scratch) {
  const std::int64_t S = g.S, D = g.D, Dp = g.Dp, ld = g.ld;
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(D)));
  T* Qt = scratch;            // (Dp, kTile) queries of the tile, transposed
  T* Ks = Qt + Dp * kTile;    // (kTile, Dp) keys of the key tile
  T* Vs = Ks + kTile * Dp;    // (kTile, Dp) values of the key tile
  T* Os = Vs + kTile * Dp;    // (kTile, Dp) unnormalised output accumulator
  T* St = Os + kTile * Dp;    // (kTile keys, kTile queries) scores, then exp(score - running max)
  double m[kTile], l[kTile];  // running max and sum of exponentials per query
  for (std::int64_t i0 = 0; i0 < S; i0 += kTile) {
    const std::int64_t nr = std::min(kTile, S - i0), mr = round_up(nr, kRows), nrp = round_up(nr, kWidth<T>);
    load_transposed(Qt, q + i0 * ld, ld, nr, D);
    std::fill(Os, Os + mr * Dp, T(0));
    for (std::int64_t r = 0; r < nr; ++r) {
      m[r] = -std::numeric_limits<double>::infinity();
      l[r] = 0;
    }
    for (std::int64_t j0 = 0; j0 < i0 + nr; j0 += kTile) {  // key tiles up to the diagonal
      const std::int64_t nc = std::min(kTile, S - j0), mc = round_up(nc, kRows);
      load_rows(Ks, k + j0 * ld, ld, nc, mc, D, Dp);
      load_rows(Vs, v + j0 * ld, ld, nc, nc, D, Dp);
      product(St, kTile, mc, nrp, Ks, Dp, 1, Qt, kTile, D, false);
      for (std::int64_t r = 0; r < mr; ++r) {
        T* p = St + r;  // p[c * kTile]: key c of query r
        const std::int64_t n = r < nr ? std::min(nc, i0 + r - j0 + 1) : 0;  // keys j <= i
        if (n > 0) {
          double mx = m[r];
          for (std::int64_t c = 0; c < n; ++c) {
            const T x = p[c * kTile] * scale;
            p[c * kTile] = x;
            mx = static_cast<double>(x) > mx ? static_cast<double>(x) : mx;  // fmax without the call
          }
          const double alpha = std::exp(m[r] - mx);  // 0 on the first tile (m = -inf)
          double sum = 0;
          for (std::int64_t c = 0; c < n; ++c) {
            const double e = std::exp(p[c * kTile] - mx);
            p[c * kTile] = static_cast<T>(e);
            sum += e;
          }
          l[r] = l[r] * alpha + sum;
          m[r] = mx;
          if (alpha != 1.0) {
            T* o = Os + r * Dp;
            for (std::int64_t d = 0; d < Dp; ++d) o[d] = static_cast<T>(o[d] * alpha);
          }
        }
        for (std::int64_t c = n; c < nc; ++c) p[c * kTile] = T(0);
      }
      product(Os, Dp, mr, Dp, St, 1, kTile, Vs, Dp, nc, true);
    }
    for (std::int64_t r = 0; r < nr; ++r) {
      const T* o = Os + r * Dp;
      T* dst = out + (i0 + r) * ld;
      for (std::int64_t d = 0; d < D; ++d) dst[d] = static_cast<T>(o[d] / l[r]);
      lse[i0 + r] = static_cast<T>(m[r] + std::log(l[r]));
    }
  }
}

// One (batch, head), query tiles outer: dq of a query tile accumulated over its key tiles in scratch; dk and dv
// accumulated in place over the query tiles (zeroed first, dk scaled at the end). P^T and dS^T are computed
// directly in the transposed layout, as the CUDA dk/dv kernel does.
template <typename T>
MHC_INLINE void backward_head_impl(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v,
                                   const T* out, const T* lse, Head g, T* scratch) {
  const std::int64_t S = g.S, D = g.D, Dp = g.Dp, ld = g.ld;
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(D)));
  T* Qs = scratch;              // (kTile, Dp) queries of the query tile
  T* Gs = Qs + kTile * Dp;      // (kTile, Dp) dout of the query tile
  T* Qt = Gs + kTile * Dp;      // (Dp, kTile) queries, transposed
  T* Gt = Qt + Dp * kTile;      // (Dp, kTile) dout, transposed
  T* dQs = Gt + Dp * kTile;     // (kTile, Dp) dq accumulator of the query tile
  T* Ks = dQs + kTile * Dp;     // (kTile, Dp) keys of the key tile
  T* Vs = Ks + kTile * Dp;      // (kTile, Dp) values of the key tile
  T* dKs = Vs + kTile * Dp;     // (kTile, Dp) this pair's contribution to dk / scale
  T* dVs = dKs + kTile * Dp;    // (kTile, Dp) this pair's contribution to dv
  T* Pt = dVs + kTile * Dp;     // (kTile keys, kTile queries) scores, then P^T
  T* dSt = Pt + kTile * kTile;  // (kTile keys, kTile queries) v dout^T, then dS^T
  double delta[kTile], row_lse[kTile];
  for (std::int64_t j = 0; j < S; ++j)
    for (std::int64_t d = 0; d < D; ++d) dk[j * ld + d] = dv[j * ld + d] = T(0);
  for (std::int64_t i0 = 0; i0 < S; i0 += kTile) {
    const std::int64_t nr = std::min(kTile, S - i0), mr = round_up(nr, kRows), nrp = round_up(nr, kWidth<T>);
    load_rows(Qs, q + i0 * ld, ld, nr, nr, D, Dp);
    load_rows(Gs, dout + i0 * ld, ld, nr, nr, D, Dp);
    load_transposed(Qt, q + i0 * ld, ld, nr, D);
    load_transposed(Gt, dout + i0 * ld, ld, nr, D);
    std::fill(dQs, dQs + mr * Dp, T(0));
    for (std::int64_t r = 0; r < kTile; ++r) {
      delta[r] = r < nr ? row_dot(dout + (i0 + r) * ld, out + (i0 + r) * ld, D) : 0.0;
      row_lse[r] = r < nr ? static_cast<double>(lse[i0 + r]) : 0.0;
    }
    for (std::int64_t j0 = 0; j0 < i0 + nr; j0 += kTile) {
      const std::int64_t nc = std::min(kTile, S - j0), mc = round_up(nc, kRows);
      load_rows(Ks, k + j0 * ld, ld, nc, mc, D, Dp);
      load_rows(Vs, v + j0 * ld, ld, nc, mc, D, Dp);
      product(Pt, kTile, mc, nrp, Ks, Dp, 1, Qt, kTile, D, false);
      product(dSt, kTile, mc, nrp, Vs, Dp, 1, Gt, kTile, D, false);
      for (std::int64_t c = 0; c < mc; ++c) {
        T* p = Pt + c * kTile;
        T* ds = dSt + c * kTile;
        // Queries i = i0 + r >= j = j0 + c see key j; none for the padding keys c >= nc.
        const std::int64_t r0 = c < nc ? std::min(nr, std::max<std::int64_t>(0, j0 + c - i0)) : nrp;
        for (std::int64_t r = 0; r < r0; ++r) p[r] = ds[r] = T(0);
        for (std::int64_t r = r0; r < nr; ++r) {
          const T pr = static_cast<T>(std::exp(p[r] * scale - row_lse[r]));
          p[r] = pr;
          ds[r] = static_cast<T>(pr * (ds[r] - delta[r]));
        }
        for (std::int64_t r = std::max(r0, nr); r < nrp; ++r) p[r] = ds[r] = T(0);
      }
      product(dQs, Dp, mr, Dp, dSt, 1, kTile, Ks, Dp, nc, true);
      product(dKs, Dp, mc, Dp, dSt, kTile, 1, Qs, Dp, nr, false);
      product(dVs, Dp, mc, Dp, Pt, kTile, 1, Gs, Dp, nr, false);
      for (std::int64_t c = 0; c < nc; ++c) {
        T* dkr = dk + (j0 + c) * ld;
        T* dvr = dv + (j0 + c) * ld;
        const T* a = dKs + c * Dp;
        const T* b = dVs + c * Dp;
        for (std::int64_t d = 0; d < D; ++d) {
          dkr[d] += a[d];
          dvr[d] += b[d];
        }
      }
    }
    for (std::int64_t r = 0; r < nr; ++r) {
      const T* a = dQs + r * Dp;
      T* dst = dq + (i0 + r) * ld;
      for (std::int64_t d = 0; d < D; ++d) dst[d] = a[d] * scale;
    }
  }
  for (std::int64_t j = 0; j < S; ++j)
    for (std::int64_t d = 0; d < D; ++d) dk[j * ld + d] *= scale;
}

// The same arithmetic either way; AVX2 only makes the 32-byte vectors native.
template <typename T>
__attribute__((target("avx2"))) void forward_head_avx2(T* out, T* lse, const T* q, const T* k, const T* v, Head g,
                                                       T* scratch) {
  forward_head_impl(out, lse, q, k, v, g, scratch);
}
template <typename T>
void forward_head_generic(T* out, T* lse, const T* q, const T* k, const T* v, Head g, T* scratch) {
  forward_head_impl(out, lse, q, k, v, g, scratch);
}
template <typename T>
__attribute__((target("avx2"))) void backward_head_avx2(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k,
                                                        const T* v, const T* out, const T* lse, Head g, T* scratch) {
  backward_head_impl(dq, dk, dv, dout, q, k, v, out, lse, g, scratch);
}
template <typename T>
void backward_head_generic(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v, const T* out,
                           const T* lse, Head g, T* scratch) {
  backward_head_impl(dq, dk, dv, dout, q, k, v, out, lse, g, scratch);
}

#undef MHC_INLINE

bool have_avx2() {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2;
}

// This thread's scratch of at least n elements: grown once, reused by later calls (no allocation per call).
template <typename T>
T* thread_scratch(std::int64_t n) {
  thread_local std::vector<T> buffer;
  if (buffer.size() < static_cast<std::size_t>(n)) buffer.resize(static_cast<std::size_t>(n));
  return buffer.data();
}

}  // namespace

template <typename T>
void attention_forward(T* out, T* lse, const T* q, const T* k, const T* v, std::int64_t B, std::int64_t S,
                       std::int64_t H, std::int64_t D) {
  const std::int64_t BH = B * H;
  if (BH <= 0 || S <= 0) return;
  const Head g{S, D, round_up(D, kPad), H * D};
  const bool avx2 = have_avx2();
#pragma omp parallel for schedule(static) if (BH > 1)
  for (std::int64_t bh = 0; bh < BH; ++bh) {
    T* scratch = thread_scratch<T>(forward_scratch(g.Dp));
    const std::int64_t base = (bh / H) * S * g.ld + (bh % H) * D;
    if (avx2)
      forward_head_avx2(out + base, lse + bh * S, q + base, k + base, v + base, g, scratch);
    else
      forward_head_generic(out + base, lse + bh * S, q + base, k + base, v + base, g, scratch);
  }
}

template <typename T>
void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v, const T* out,
                        const T* lse, std::int64_t B, std::int64_t S, std::int64_t H, std::int64_t D) {
  const std::int64_t BH = B * H;
  if (BH <= 0 || S <= 0) return;
  const Head g{S, D, round_up(D, kPad), H * D};
  const bool avx2 = have_avx2();
#pragma omp parallel for schedule(static) if (BH > 1)
  for (std::int64_t bh = 0; bh < BH; ++bh) {
    T* scratch = thread_scratch<T>(backward_scratch(g.Dp));
    const std::int64_t base = (bh / H) * S * g.ld + (bh % H) * D;
    if (avx2)
      backward_head_avx2(dq + base, dk + base, dv + base, dout + base, q + base, k + base, v + base, out + base,
                         lse + bh * S, g, scratch);
    else
      backward_head_generic(dq + base, dk + base, dv + base, dout + base, q + base, k + base, v + base, out + base,
                            lse + bh * S, g, scratch);
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
