// [cuda] GEMM and linear layers through cuBLASLt vs the CPU oracle run in f64 on the same f32 inputs.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <limits>
#include <string>

#include "cuda/device_support.hpp"
#include "cuda/f32_inputs.hpp"
#include "cuda/sum_tolerance.hpp"
#include "kernels/matmul_cublaslt.hpp"
#include "ops/cases/matmul.hpp"
#include "ops/matmul.hpp"

using namespace mhc;
using namespace mhc::test;

// Tolerances: every output element is a sum of K products (plus beta * out, or the accumulated gradient), computed
// by cuBLASLt in fp32 with FMA in an order of its choosing (blocked, possibly split-K), while the oracle sums the
// same f32 inputs in f64 (error ~1e-16, negligible). check_sum_close allows 8 * sqrt(L) * 2^-24 * sum|terms| per
// element (sum_tolerance.hpp) with L = K + 2 terms (the K products, the beta term, the final rounding): several
// times the typical fp32 error of an L-term sum, yet for K up to ~10^4 one missing or wrong product (about
// sum|terms| / K) fails.

namespace {

HostTensor as_f64(const HostTensor& t) { return to_dtype(t, DType::f64); }

// |t| elementwise, in f64.
HostTensor abs_f64(const HostTensor& t) {
  HostTensor out(DType::f64, t.view().shape);
  for (std::int64_t k = 0; k < t.numel(); ++k) out.set(k, std::fabs(t.get(k)));
  return out;
}

// |scale| * |t| in f64: the part of abs_sum that an accumulated (beta, +=) output contributes.
HostTensor scaled_abs(const HostTensor& t, double scale) {
  HostTensor out = abs_f64(t);
  for (std::int64_t k = 0; k < out.numel(); ++k) out.set(k, std::fabs(scale) * out.get(k));
  return out;
}

std::string gemm_tag(std::int64_t M, std::int64_t N, std::int64_t K, bool ta, bool tb, float alpha, float beta) {
  return "M " + std::to_string(M) + " N " + std::to_string(N) + " K " + std::to_string(K) + " trans_a " +
         std::to_string(ta) + " trans_b " + std::to_string(tb) + " alpha " + std::to_string(alpha) + " beta " +
         std::to_string(beta);
}

// out = alpha op(a) op(b) + beta out on the device vs the f64 oracle; out starts as NaNs when beta == 0 (it must not
// be read then).
void check_matmul(std::int64_t M, std::int64_t N, std::int64_t K, bool ta, bool tb, float alpha, float beta) {
  const std::string tag = gemm_tag(M, N, K, ta, tb, alpha, beta);
  INFO(tag);
  const HostTensor a = random_f32(ta ? Shape{K, M} : Shape{M, K}, "cuda.mm.a");
  const HostTensor b = random_f32(tb ? Shape{N, K} : Shape{K, N}, "cuda.mm.b");
  const HostTensor c0 = beta == 0.0f ? nan_tensor(DType::f32, Shape{M, N}) : random_f32(Shape{M, N}, "cuda.mm.c");

  HostTensor ref = beta == 0.0f ? HostTensor(DType::f64, Shape{M, N}) : as_f64(c0);
  ops::matmul(ref, as_f64(a), as_f64(b), ta, tb, alpha, beta);
  HostTensor abs_sum = beta == 0.0f ? HostTensor(DType::f64, Shape{M, N}) : scaled_abs(c0, beta);
  ops::matmul(abs_sum, abs_f64(a), abs_f64(b), ta, tb, std::fabs(alpha), 1.0f);

  Arena arena = device_arena(a.view().bytes() + b.view().bytes() + c0.view().bytes());
  const Tensor d_a = upload(arena, a, "a"), d_b = upload(arena, b, "b"), d_out = upload(arena, c0, "out");
  ops::matmul(d_out, d_a, d_b, ta, tb, alpha, beta);
  check_sum_close("out (" + tag + ")", download(d_out), ref, abs_sum, static_cast<double>(K + 2));
}

}  // namespace

TEST_CASE("matmul through cuBLASLt matches the CPU oracle", "[cuda][matmul]") {
  for (const bool ta : {false, true})
    for (const bool tb : {false, true}) {
      check_matmul(1, 1, 1, ta, tb, 1.0f, 0.0f);
      check_matmul(7, 13, 5, ta, tb, 1.0f, 0.0f);
      check_matmul(7, 13, 5, ta, tb, -0.75f, 1.0f);  // accumulation onto out
      check_matmul(129, 65, 257, ta, tb, 0.5f, -1.5f);
      check_matmul(129, 65, 257, ta, tb, 1.0f, 1.0f);
    }
  check_matmul(512, 768, 3072, false, true, 1.0f, 0.0f);  // a linear forward of transformer size
  check_matmul(512, 768, 3072, true, false, 1.0f, 1.0f);  // a weight gradient: sums over 3072 rows, accumulated
  check_matmul(24, 40, 8192, true, false, 1.0f, 1.0f);    // small output, long sums: where split-K pays
}

TEST_CASE("matmul through cuBLASLt: empty products and unaligned slices", "[cuda][matmul]") {
  Arena arena = device_arena(64 * 1024);
  // K == 0: out = beta * out, and exactly 0 for beta == 0 even over NaNs.
  const HostTensor c0 = random_f32(Shape{5, 3}, "cuda.mm.k0");
  const Tensor empty_a = arena.alloc(DType::f32, Shape{5, 0}, "a0");
  const Tensor empty_b = arena.alloc(DType::f32, Shape{0, 3}, "b0");
  const Tensor out = upload(arena, c0, "out");
  ops::matmul(out, empty_a, empty_b, false, false, 1.0f, -2.0f);
  HostTensor twice(DType::f32, Shape{5, 3});
  for (std::int64_t k = 0; k < 15; ++k) twice.set(k, -2.0 * c0.get(k));
  check_close("K = 0, beta = -2", download(out), twice, 0.0, 0.0);
  copy_tensor(out, nan_tensor(DType::f32, Shape{5, 3}));
  ops::matmul(out, empty_a, empty_b, false, false, 1.0f, 0.0f);
  check_close("K = 0, beta = 0", download(out), HostTensor(DType::f32, Shape{5, 3}), 0.0, 0.0);
  const Tensor no_rows = arena.alloc(DType::f32, Shape{0, 3}, "no rows");
  CHECK_NOTHROW(ops::matmul(no_rows, arena.alloc(DType::f32, Shape{0, 4}, "a"),
                            arena.alloc(DType::f32, Shape{4, 3}, "b"), false, false, 1.0f, 0.0f));

  // Operands one row into a buffer with an odd row length: 4-byte aligned pointers, not the usual 256.
  const std::int64_t M = 9, N = 11, K = 13;
  const HostTensor a = random_f32(Shape{M + 1, K}, "cuda.mm.ua"), b = random_f32(Shape{K + 1, N}, "cuda.mm.ub");
  const HostTensor c = random_f32(Shape{M + 1, N}, "cuda.mm.uc");
  const Tensor d_a = upload(arena, a, "ua"), d_b = upload(arena, b, "ub"), d_c = upload(arena, c, "uc");
  const HostTensor ref = as_f64(c);
  ops::matmul(ref.view().slice_rows(1, M + 1), as_f64(a).view().slice_rows(1, M + 1),
              as_f64(b).view().slice_rows(1, K + 1), false, false, 1.0f, 1.0f);
  HostTensor abs_sum = abs_f64(c);
  ops::matmul(abs_sum.view().slice_rows(1, M + 1), abs_f64(a).view().slice_rows(1, M + 1),
              abs_f64(b).view().slice_rows(1, K + 1), false, false, 1.0f, 1.0f);
  ops::matmul(d_c.slice_rows(1, M + 1), d_a.slice_rows(1, M + 1), d_b.slice_rows(1, K + 1), false, false, 1.0f, 1.0f);
  check_sum_close("unaligned slices", download(d_c), ref, abs_sum, static_cast<double>(K + 2));  // row 0 untouched
}

TEST_CASE("linear layers through cuBLASLt match the CPU oracle", "[cuda][matmul]") {
  const std::array<std::array<std::int64_t, 3>, 3> shapes{{{1, 1, 1}, {37, 29, 53}, {256, 384, 96}}};
  for (const auto& [rows, in, out] : shapes)
    for (const bool accumulate_dx : {false, true}) {
      const OpCase c = linear_case(rows, in, out, accumulate_dx);
      // Each bound: the same products over the absolute values (plus |prior| for an accumulated gradient).
      const auto bound = [&c](const std::string& name, double L) {
        return OpTolerance([&c, name, L](const OpHostTensors& o) {
          const auto abs_of = [&](const std::string& t) { return abs_f64(o.owned.at(t)); };
          const auto prior = [&](const std::string& input) { return abs_f64(gradient_prior(c, input)); };
          HostTensor abs_sum;
          if (name == "y") {
            abs_sum = HostTensor(DType::f64, c.output("y").shape);
            ops::linear_forward(abs_sum, abs_of("x"), abs_of("w"));
          } else if (name == "dx") {
            abs_sum = prior("x");
            ops::linear_backward_input(abs_sum, abs_of("dy"), abs_of("w"), /*accumulate=*/true);
          } else {
            abs_sum = prior("w");
            ops::linear_backward_weight(abs_sum, abs_of("dy"), abs_of("x"));
          }
          for (std::int64_t k = 0; k < abs_sum.numel(); ++k) abs_sum.set(k, sum_tolerance(abs_sum.get(k), L));
          return abs_sum;
        });
      };
      check_op_cuda(c, DType::f64,
                    {{"y", bound("y", static_cast<double>(in + 2))},
                     {"dx", bound("dx", static_cast<double>(out + 2))},
                     {"dw", bound("dw", static_cast<double>(rows + 2))}});
    }
}

TEST_CASE("matmul through cuBLASLt repeats its bits", "[cuda][matmul]") {
  // Shapes with a large output and with small outputs over long sums (split-K candidates).
  const std::array<std::array<std::int64_t, 3>, 3> shapes{{{512, 768, 3072}, {24, 40, 40000}, {3, 5, 100000}}};
  for (const auto& [M, N, K] : shapes) {
    INFO("M " << M << " N " << N << " K " << K);
    const HostTensor a = random_f32(Shape{K, M}, "cuda.mm.det.a"), b = random_f32(Shape{K, N}, "cuda.mm.det.b");
    const HostTensor c0 = random_f32(Shape{M, N}, "cuda.mm.det.c");
    Arena arena = device_arena(a.view().bytes() + b.view().bytes() + 3 * c0.view().bytes());
    const Tensor d_a = upload(arena, a, "a"), d_b = upload(arena, b, "b");
    const Tensor first = upload(arena, c0, "first"), second = upload(arena, c0, "second");
    ops::matmul(first, d_a, d_b, true, false, 1.0f, 1.0f);  // accumulating, as a weight gradient
    ops::matmul(second, d_a, d_b, true, false, 1.0f, 1.0f);
    const HostTensor once = download(first);
    check_close("two outputs", download(second), once, 0.0, 0.0);
    copy_tensor(first, c0);  // the same output buffer again
    ops::matmul(first, d_a, d_b, true, false, 1.0f, 1.0f);
    check_close("same output again", download(first), once, 0.0, 0.0);
  }
}

TEST_CASE("matmul through cuBLASLt with TF32 stays within TF32 rounding", "[cuda][matmul]") {
  struct Tf32On {
    Tf32On() { kernels::set_matmul_tf32(true); }
    ~Tf32On() { kernels::set_matmul_tf32(false); }
  };
  const std::int64_t M = 64, N = 96, K = 512;
  const HostTensor a = random_f32(Shape{M, K}, "cuda.mm.tf.a"), b = random_f32(Shape{K, N}, "cuda.mm.tf.b");
  const HostTensor ref(DType::f64, Shape{M, N}), abs_sum(DType::f64, Shape{M, N});
  ops::matmul(ref, as_f64(a), as_f64(b), false, false);
  ops::matmul(abs_sum, abs_f64(a), abs_f64(b), false, false);
  Arena arena = device_arena(a.view().bytes() + b.view().bytes() + M * N * 4);
  const Tensor d_a = upload(arena, a, "a"), d_b = upload(arena, b, "b");
  const Tensor d_out = upload(arena, nan_tensor(DType::f32, Shape{M, N}), "out");
  {
    const Tf32On tf32;
    ops::matmul(d_out, d_a, d_b, false, false);
  }
  // TF32 keeps 10 of the 23 mantissa bits: each input off by up to 2^-10 relative (if truncated), each product by
  // up to 2^-9, so |error| <= 2^-9 * sum|a b| (the fp32 sum adds far less).
  const HostTensor got = download(d_out);
  std::int64_t failures = 0;
  for (std::int64_t k = 0; k < ref.numel(); ++k)
    if (!(std::fabs(got.get(k) - ref.get(k)) <= std::ldexp(1.0, -9) * abs_sum.get(k))) ++failures;
  CHECK(failures == 0);
}

TEST_CASE("matmul on CUDA checks devices, dtypes and extents", "[cuda][matmul]") {
  Arena arena = device_arena(4096);
  const Tensor a = arena.alloc(DType::f32, Shape{2, 3}, "a"), b = arena.alloc(DType::f32, Shape{3, 4}, "b");
  const Tensor out = arena.alloc(DType::f32, Shape{2, 4}, "out");
  const HostTensor host_b(DType::f32, Shape{3, 4});
  CHECK_THROWS_WITH(ops::matmul(out, a, host_b, false, false), Catch::Contains("matmul b"));
  CHECK_THROWS_AS(ops::matmul(out, a, b, true, false), ShapeError);
  const Tensor a64 = arena.alloc(DType::f64, Shape{2, 3}, "a64"), b64 = arena.alloc(DType::f64, Shape{3, 4}, "b64");
  const Tensor out64 = arena.alloc(DType::f64, Shape{2, 4}, "out64");
  CHECK_THROWS_WITH(ops::matmul(out64, a64, b64, false, false), Catch::Contains("f32"));
  // Extents beyond int32 are refused before any device work (the pointers are never touched).
  const std::int64_t big = std::int64_t(std::numeric_limits<std::int32_t>::max()) + 1;
  CHECK_THROWS_AS(kernels::matmul_f32(nullptr, nullptr, nullptr, big, 1, 1, false, false, 1.0f, 0.0f, StreamHandle{}),
                  ShapeError);
  CHECK_THROWS_AS(kernels::matmul_f32(nullptr, nullptr, nullptr, 1, 1, big, false, false, 1.0f, 0.0f, StreamHandle{}),
                  ShapeError);
}
