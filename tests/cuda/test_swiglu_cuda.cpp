// [cuda] SwiGLU kernels vs the CPU oracle (fp32 both), through the ops::swiglu_* entry points.
#include <catch2/catch.hpp>

#include <string>

#include "cuda/device_support.hpp"
#include "cuda/f32_inputs.hpp"
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
  const std::string tag = "N " + std::to_string(N) + " F " + std::to_string(F);
  INFO(tag);
  const Shape shape{N, F};
  const HostTensor gate = random_f32(shape, "cuda.swiglu.gate", 3.0), up = random_f32(shape, "cuda.swiglu.up");
  const HostTensor dout = random_f32(shape, "cuda.swiglu.dout");
  const HostTensor out(DType::f32, shape), dgate(DType::f32, shape), dup(DType::f32, shape);
  ops::swiglu_forward(out, gate, up);
  ops::swiglu_backward(dgate, dup, dout, gate, up);

  Arena arena = device_arena(6 * gate.view().bytes());
  const Tensor d_gate = upload(arena, gate, "gate"), d_up = upload(arena, up, "up");
  const Tensor d_dout = upload(arena, dout, "dout");
  const Tensor d_out = upload(arena, nan_tensor(DType::f32, shape), "out");
  const Tensor d_dgate = upload(arena, nan_tensor(DType::f32, shape), "dgate");
  const Tensor d_dup = upload(arena, nan_tensor(DType::f32, shape), "dup");
  ops::swiglu_forward(d_out, d_gate, d_up);
  check_close("out (" + tag + ")", download(d_out), out, kAtol, kRtol);
  ops::swiglu_backward(d_dgate, d_dup, d_dout, d_gate, d_up);
  check_close("dgate (" + tag + ")", download(d_dgate), dgate, kAtol, kRtol);
  check_close("dup (" + tag + ")", download(d_dup), dup, kAtol, kRtol);

  // In place: dup over dout, then out over up.
  ops::swiglu_backward(d_dgate, d_dout, d_dout, d_gate, d_up);
  check_close("dgate, dup over dout (" + tag + ")", download(d_dgate), dgate, kAtol, kRtol);
  check_close("dup over dout (" + tag + ")", download(d_dout), dup, kAtol, kRtol);
  ops::swiglu_forward(d_up, d_gate, d_up);
  check_close("out over up (" + tag + ")", download(d_up), out, kAtol, kRtol);
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
