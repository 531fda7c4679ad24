// [cuda] RoPE kernel vs the CPU oracle (fp32 both), through the ops::rope_forward / rope_backward entry points.
#include <catch2/catch.hpp>

#include "cuda/device_support.hpp"
#include "ops/cases/rope.hpp"
#include "ops/rope.hpp"

using namespace mhc;
using namespace mhc::test;

namespace {

// Both sides rotate in double with the same rounded operations; CUDA's double pow, sin and cos are within 2 ulp of
// glibc's, so an angle t * freq (t < 4096) differs by ~1e-12 at most and the f32 results by at most their last bit:
// rtol 1e-6 is a few ulp. The atol covers outputs that cancel to ~0 (error ~1e-12 * |x|).
constexpr double kRtol = 1e-6;
constexpr double kAtol = 1e-10;

void check_rope(std::int64_t B, std::int64_t S, std::int64_t H, std::int64_t D) {
  const double theta = 10000.0;
  const OpCase c = rope_case(B, S, H, D, theta);
  INFO(c.op);
  const CudaOpRun run = check_op_cuda(c, DType::f32, {{"out", {kAtol, kRtol}}, {"dx", {kAtol, kRtol}}});
  const OpTensors& d = run.device;
  ops::rope_forward(d["x"], d["x"], theta);  // in place
  check_close("out in place", download(d["x"]), run.oracle.owned.at("out"), kAtol, kRtol);
  ops::rope_backward(d["dout"], d["dout"], theta);
  check_close("dx in place", download(d["dout"]), run.oracle.owned.at("dx"), kAtol, kRtol);
}

}  // namespace

TEST_CASE("rope kernel matches the CPU oracle", "[cuda]") {
  check_rope(1, 1, 1, 2);
  check_rope(2, 5, 3, 8);
  check_rope(2, 37, 4, 64);
  check_rope(1, 300, 2, 130);   // 65 pairs per head
  check_rope(3, 1000, 1, 6);
  check_rope(2, 4096, 1, 512);  // 2M (token, pair) threads: more than the capped grid covers at once
}

TEST_CASE("rope on CUDA checks devices", "[cuda]") {
  Arena arena = device_arena(4096);
  const Tensor x = arena.alloc(DType::f32, Shape{1, 2, 1, 4}, "x");
  const HostTensor host(DType::f32, Shape{1, 2, 1, 4});
  CHECK_THROWS_WITH(ops::rope_forward(host, x, 10000.0), Catch::Contains("rope out"));
  const Tensor empty = arena.alloc(DType::f32, Shape{0, 2, 1, 4}, "empty");
  CHECK_NOTHROW(ops::rope_forward(empty, empty, 10000.0));
}
