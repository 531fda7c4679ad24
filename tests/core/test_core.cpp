// Tests of the runtime core: shapes and views, arenas, the counter RNG, bf16 conversion, the device runtime where no
// GPU is visible, the sync-debug switch.
#include <catch2/catch.hpp>

#include <cstring>
#include <limits>

#include <cmath>

#include "core/arena.hpp"
#include "core/device_runtime.hpp"
#include "core/host_tensor.hpp"
#include "core/rng.hpp"
#include "core/stream.hpp"

using namespace mhc;

TEST_CASE("tensor views reshape, slice and check their dtype", "[core]") {
  HostTensor h(DType::f32, Shape{4, 3});
  Tensor t = h;
  CHECK(t.numel() == 12);
  CHECK(t.bytes() == 48);
  CHECK(t.dim(-1) == 3);
  CHECK(t.reshape(Shape{2, 6}).dim(1) == 6);
  CHECK_THROWS_AS(t.reshape(Shape{5, 3}), ShapeError);
  Tensor rows = t.slice_rows(1, 3);
  CHECK(rows.dim(0) == 2);
  CHECK(rows.ptr<float>() == t.ptr<float>() + 3);
  CHECK_THROWS_AS(t.ptr<double>(), ShapeError);
  CHECK_THROWS_AS(t.dim(2), ShapeError);
  CHECK_THROWS_WITH(expect_shape(t, Shape{3, 4}, "weight"), Catch::Contains("weight must have shape (3, 4)"));
}

TEST_CASE("64-bit sizes do not overflow", "[core]") {
  const Shape s{1 << 20, 1 << 20, 4};
  CHECK(s.numel() == (std::int64_t{1} << 42));
}

TEST_CASE("arenas carve aligned tensors and account bytes", "[core]") {
  const std::vector<TensorSpec> specs{{"a", DType::f32, Shape{10}}, {"b", DType::f64, Shape{3, 3}}};
  const std::int64_t need = Arena::bytes_needed(specs);
  CHECK(need == 2 * kArenaAlignment);
  Arena arena("params", ArenaKind::parameters, Device::cpu, need);
  Tensor a = arena.alloc(DType::f32, Shape{10}, "a");
  Tensor b = arena.alloc(DType::f64, Shape{3, 3}, "b");
  CHECK(reinterpret_cast<std::uintptr_t>(b.data) % kArenaAlignment == 0);
  CHECK(static_cast<char*>(b.data) - static_cast<char*>(a.data) == kArenaAlignment);
  CHECK(arena.used() == need);
  CHECK(a.ptr<float>()[3] == 0.0f);  // zero-filled
  CHECK_THROWS_WITH(arena.alloc(DType::f32, Shape{1}, "c"), Catch::Contains("arena 'params'") && Catch::Contains("'c'"));
  arena.reset();
  CHECK(arena.used() == 0);
  CHECK(arena.peak() == need);
  Arena moved = std::move(arena);
  CHECK(moved.capacity() == need);
  CHECK(arena.capacity() == 0);
}

TEST_CASE("counter RNG values depend only on seed, name and index", "[core]") {
  const CounterRng r1(7, "blocks.0.attn.wq"), r2(7, "blocks.0.attn.wq"), r3(8, "blocks.0.attn.wq"),
      r4(7, "blocks.1.attn.wq");
  CHECK(r1.block(5) == r2.block(5));
  CHECK(r1.block(5) != r3.block(5));
  CHECK(r1.block(5) != r4.block(5));
  CHECK(r1.block(5) != r1.block(6));

  // A slice initialised on its own equals the same elements of the whole tensor (pipeline-split init).
  HostTensor whole(DType::f32, Shape{64});
  fill_normal(whole, 42, "w", 0.0, 0.02);
  const CounterRng rng(42, "w");
  for (int k = 0; k < 64; ++k) CHECK(whole.ptr<float>()[k] == static_cast<float>(0.02 * rng.normal(k)));

  // Moments of a large sample.
  double sum = 0, sq = 0, usum = 0;
  const int n = 200000;
  for (int k = 0; k < n; ++k) {
    const double z = rng.normal(k);
    sum += z;
    sq += z * z;
    const double u = rng.uniform(k);
    REQUIRE(u > 0.0);
    REQUIRE(u < 1.0);
    usum += u;
  }
  CHECK(std::fabs(sum / n) < 0.01);
  CHECK(std::fabs(sq / n - 1.0) < 0.01);
  CHECK(std::fabs(usum / n - 0.5) < 0.005);
}

TEST_CASE("bf16 conversion rounds to nearest even", "[core]") {
  CHECK(bf16_to_float(float_to_bf16(1.0f)) == 1.0f);
  CHECK(bf16_to_float(float_to_bf16(-2.5f)) == -2.5f);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
  CHECK(bf16_to_float(float_to_bf16(1.0f + 1.0f / 256)) == 1.0f);
  CHECK(bf16_to_float(float_to_bf16(1.0f + 3.0f / 256)) == 1.0f + 1.0f / 64);
  CHECK(std::isnan(bf16_to_float(float_to_bf16(std::nanf("")))));
}

namespace {
float from_bits(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
}  // namespace

// The CPU's bf16 emulation rounds exactly as the GPU's __float2bfloat16_rn: to nearest, ties to even, in every range.
TEST_CASE("bf16 rounding: ties, subnormals, overflow, inf and NaN", "[core]") {
  const auto bits = [](float f) { return float_to_bf16(f).bits; };
  // Ties: halfway between two bf16 values goes to the even one, just above or below goes to the nearer.
  CHECK(bits(from_bits(0x3f808000u)) == 0x3f80);  // 1 + 2^-8: tie, even 0x3f80 kept
  CHECK(bits(from_bits(0x3f818000u)) == 0x3f82);  // 1 + 3 * 2^-8: tie, odd 0x3f81 rounds up to 0x3f82
  CHECK(bits(from_bits(0x3f808001u)) == 0x3f81);  // just above the tie
  CHECK(bits(from_bits(0x3f817fffu)) == 0x3f81);  // just below the tie
  CHECK(bits(from_bits(0xbf818000u)) == 0xbf82);  // the sign does not change the rule
  // Subnormals keep their 7 fraction bits and round the same way (no flush to zero).
  CHECK(bits(from_bits(0x00008000u)) == 0x0000);  // half the smallest subnormal bf16: tie to even 0
  CHECK(bits(from_bits(0x00018000u)) == 0x0002);  // 1.5 smallest: tie, up to even 2
  CHECK(bits(from_bits(0x00008001u)) == 0x0001);  // above half: the smallest subnormal
  CHECK(bits(from_bits(0x007fffffu)) == 0x0080);  // the largest f32 subnormal rounds up to the smallest normal
  CHECK(bf16_to_float(bf16_t{0x0001}) == from_bits(0x00010000u));
  // Overflow: above the largest finite bf16 by half an ulp or more is inf; just below stays finite.
  CHECK(bits(from_bits(0x7f7f8000u)) == 0x7f80);
  CHECK(bits(from_bits(0x7f7f7fffu)) == 0x7f7f);
  CHECK(bits(std::numeric_limits<float>::infinity()) == 0x7f80);
  CHECK(bits(-std::numeric_limits<float>::infinity()) == 0xff80);
  CHECK(bits(-0.0f) == 0x8000);
  // NaN stays NaN, quiet, with its sign, even when its payload sits only in the low 16 bits.
  CHECK(bits(from_bits(0x7f800001u)) == 0x7fc0);
  CHECK(bits(from_bits(0xffc00000u)) == 0xffc0);
  CHECK(std::isnan(bf16_to_float(float_to_bf16(from_bits(0x7f800001u)))));
}

TEST_CASE("without a visible GPU the device runtime is one DeviceError", "[core]") {
  if (cuda_device_count() > 0) return;  // a GPU machine: the [cuda] tests cover DeviceRuntime there
  CHECK_THROWS_AS(DeviceRuntime(0), DeviceError);
  CHECK_THROWS_WITH(local_device_index(), Catch::Contains("parallel.device \"cuda\": "));
}

TEST_CASE("the sync-debug switch can be set and cleared", "[core]") {
  const bool before = cuda_sync_debug();
  set_cuda_sync_debug(true);
  CHECK(cuda_sync_debug());
  set_cuda_sync_debug(false);
  CHECK_FALSE(cuda_sync_debug());
  set_cuda_sync_debug(before);
}
