// [cuda] Softmax cross-entropy kernels vs the CPU oracle (fp32 both), through the ops::softmax_xent_* entry points.
#include <catch2/catch.hpp>

#include "cuda/device_support.hpp"
#include "ops/cases/cross_entropy.hpp"
#include "ops/cross_entropy.hpp"

using namespace mhc;
using namespace mhc::test;

namespace {

// Both sides compute in double from the same f32 inputs: the maximum is exact, only the order of the double sum and
// exp (CUDA's double exp is within 1 ulp of glibc's) differ, ~1e-16 relative, which can flip at most the last bit of
// an f32 result: rtol 1e-6 is a few ulp. The atol covers results that cancel to ~0 (loss ~ 0 when the target
// dominates, p - 1 ~ 0), where the double error is ~1e-16 times the O(1..10) terms.
constexpr double kRtol = 1e-6;
constexpr double kAtol = 1e-10;

// targets (N): scrambled ids in [0, V), with every fifth row ignored (-1 or -100).
HostTensor make_targets(std::int64_t N, std::int64_t V) {
  HostTensor t(DType::i32, Shape{N});
  for (std::int64_t n = 0; n < N; ++n)
    t.ptr<std::int32_t>()[n] = static_cast<std::int32_t>(n % 5 == 4 ? (n % 2 == 0 ? -1 : -100) : (n * 7919 + 3) % V);
  return t;
}

void check_xent(std::int64_t N, std::int64_t V) {
  const double grad_scale = 1.0 / static_cast<double>(2 * N);
  const OpCase c = cross_entropy_case(make_targets(N, V), V, 3.0, grad_scale);
  INFO(c.op);
  // The backward gets the oracle's lse (the harness), so it is compared on its own.
  const CudaOpRun run = check_op_cuda(
      c, DType::f32, {{"lse", {kAtol, kRtol}}, {"loss", {kAtol, kRtol}}, {"dlogits", {kAtol * grad_scale, kRtol}}});
  const OpTensors& d = run.device;
  ops::softmax_xent_backward(d["logits"], d["logits"], d["lse"], d["targets"], grad_scale);  // in place
  check_close("dlogits in place", download(d["logits"]), run.oracle.owned.at("dlogits"), kAtol * grad_scale, kRtol);
}

}  // namespace

TEST_CASE("softmax cross-entropy kernels match the CPU oracle", "[cuda]") {
  for (const std::int64_t V : {1, 5, 257, 1000})
    for (const std::int64_t N : {1, 3, 37}) check_xent(N, V);
  check_xent(200, 32003);
}

TEST_CASE("softmax cross-entropy on CUDA validates the targets", "[cuda]") {
  const std::int64_t N = 4, V = 6;
  HostTensor targets = make_targets(N, V);
  targets.ptr<std::int32_t>()[2] = 6;
  Arena arena = device_arena(4096);
  const Tensor d_targets = upload(arena, targets, "targets"), logits = arena.alloc(DType::f32, Shape{N, V}, "l");
  const Tensor loss = arena.alloc(DType::f32, Shape{N}, "loss"), lse = arena.alloc(DType::f32, Shape{N}, "lse");
  CHECK_THROWS_WITH(ops::softmax_xent_forward(loss, lse, logits, d_targets), Catch::Contains("target 6 of row 2"));
  CHECK_THROWS_AS(ops::softmax_xent_backward(logits, logits, lse, d_targets, 1.0), ShapeError);
  CHECK_THROWS_WITH(ops::softmax_xent_forward(loss, lse, logits, targets), Catch::Contains("xent targets"));
}
