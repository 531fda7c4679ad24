// [cuda] axpby kernel vs the CPU oracle: bitwise equal (both round two products and one sum, no FMA).
#include <catch2/catch.hpp>

#include <string>

#include "cuda/device_support.hpp"
#include "ops/elementwise.hpp"
#include "support/gradcheck.hpp"
#include "support/mhc_inputs.hpp"

using namespace mhc;
using namespace mhc::test;

namespace {

// out = alpha a + beta b with every pointer `shift` floats past 16-byte alignment; `alias` writes over a.
void check_axpby(std::int64_t n, std::int64_t shift, bool alias) {
  const std::string tag = "n " + std::to_string(n) + " shift " + std::to_string(shift) + (alias ? " alias" : "");
  INFO(tag);
  const float alpha = 0.75f, beta = -1.3f;
  const HostTensor a = to_dtype(random_tensor(Shape{n}, "cuda.axpby.a"), DType::f32);
  const HostTensor b = to_dtype(random_tensor(Shape{n}, "cuda.axpby.b"), DType::f32);
  const HostTensor ref(DType::f32, Shape{n});
  ops::axpby(ref, alpha, a, beta, b);

  Arena arena = device_arena(3 * (n + shift) * 4);
  const auto shifted = [&](const HostTensor& host, const char* what) {
    Tensor d = arena.alloc(DType::f32, Shape{n + shift}, what);
    d = Tensor(d.ptr<float>() + shift, DType::f32, Shape{n}, Device::cuda);
    copy_tensor(d, host);
    return d;
  };
  const Tensor da = shifted(a, "a"), db = shifted(b, "b");
  const Tensor out = alias ? da : shifted(nan_tensor(DType::f32, Shape{n}), "out");
  ops::axpby(out, alpha, da, beta, db);
  check_close("axpby (" + tag + ")", download(out), ref, 0.0, 0.0);
}

}  // namespace

TEST_CASE("axpby kernel matches the CPU oracle bitwise", "[cuda]") {
  for (const std::int64_t n : {1, 3, 4, 5, 1001, 4096, (1 << 20) + 3})
    for (const std::int64_t shift : {0, 1})
      for (const bool alias : {false, true}) check_axpby(n, shift, alias);
  check_axpby(std::int64_t{4096} * 1024 * 4 + 1, 0, false);  // more elements than the capped grid covers at once
}
