// [cuda] SwiGLU kernels vs the CPU oracle (fp32 both), through the ops::swiglu_* entry points.
#include <catch2/catch.hpp>

#include "cuda/device_support.hpp"
#include "ops/cases/swiglu.hpp"
#include "ops/swiglu.hpp"

using namespace mhc;
using namespace mhc::test;

namespace {

// Both sides evaluate the same double formula with the same rounded operations; only exp differs (CUDA's double
// exp is within 1 ulp of glibc's), which can flip at most the last bit of the f32 result: rtol 1e-6 is a few ulp.
// The atol covers dgate where 1 + g (1 - sigmoid(g)) cancels (g near -1.28): the double error there is
// ~1e-16 * |dout * up|.
constexpr double kRtol = 1e-6;
constexpr double kAtol = 1e-10;

void check_swiglu(std::int64_t N, std::int64_t F) {
  const OpCase c = swiglu_case(N, F);
  INFO(c.op);
  const CudaOpRun run =
      check_op_cuda(c, DType::f32, {{"out", {kAtol, kRtol}}, {"dgate", {kAtol, kRtol}}, {"dup", {kAtol, kRtol}}});
  const OpTensors& d = run.device;
  const OpHostTensors& ref = run.oracle;

  // In place: dup over dout, then out over up.
  ops::swiglu_backward(d["dgate"], d["dout"], d["dout"], d["gate"], d["up"]);
  check_close("dgate, dup over dout", download(d["dgate"]), ref.owned.at("dgate"), kAtol, kRtol);
  check_close("dup over dout", download(d["dout"]), ref.owned.at("dup"), kAtol, kRtol);
  ops::swiglu_forward(d["up"], d["gate"], d["up"]);
  check_close("out over up", download(d["up"]), ref.owned.at("out"), kAtol, kRtol);
}

}  // namespace

TEST_CASE("swiglu kernels match the CPU oracle", "[cuda]") {
  for (const std::int64_t F : {1, 7, 256, 1030})
    for (const std::int64_t N : {1, 3, 37}) check_swiglu(N, F);
  check_swiglu(4, (std::int64_t{1} << 20) + 3);  // more elements than the capped grid covers at once
}

TEST_CASE("swiglu on CUDA checks devices and aliasing", "[cuda]") {
  Arena arena = device_arena(4096);
  const Tensor a = arena.alloc(DType::f32, Shape{2, 4}, "a"), b = arena.alloc(DType::f32, Shape{2, 4}, "b");
  const HostTensor host(DType::f32, Shape{2, 4});
  CHECK_THROWS_WITH(ops::swiglu_forward(a, a, host), Catch::Contains("swiglu up"));
  CHECK_THROWS_WITH(ops::swiglu_backward(a, a, b, b, b), Catch::Contains("alias"));
  const Tensor empty = arena.alloc(DType::f32, Shape{0, 4}, "empty");
  CHECK_NOTHROW(ops::swiglu_forward(empty, empty, empty));
}
