// [cuda] axpby kernel vs the CPU oracle: bitwise equal (both round two products and one sum, no FMA).
#include <catch2/catch.hpp>

#include "cuda/device_support.hpp"
#include "ops/cases/elementwise.hpp"
#include "ops/elementwise.hpp"

using namespace mhc;
using namespace mhc::test;

namespace {

// out = alpha a + beta b (and its gradients, axpby too) with every pointer `shift` floats past the alignment, then
// out written over a.
void check_axpby(std::int64_t n, std::int64_t shift) {
  INFO("n " << n << " shift " << shift);
  const float alpha = 0.75f, beta = -1.3f;
  const CudaOpRun run = check_op_cuda(axpby_case(Shape{n}, alpha, beta), DType::f32,
                                      {{"out", {0.0, 0.0}}, {"da", {0.0, 0.0}}, {"db", {0.0, 0.0}}}, shift);
  const OpTensors& d = run.device;
  ops::axpby(d["a"], alpha, d["a"], beta, d["b"]);  // out over a
  check_close("axpby in place", download(d["a"]), run.oracle.owned.at("out"), 0.0, 0.0);
}

}  // namespace

TEST_CASE("axpby kernel matches the CPU oracle bitwise", "[cuda]") {
  for (const std::int64_t n : {1, 3, 4, 5, 1001, 4096, (1 << 20) + 3})
    for (const std::int64_t shift : {0, 1}) check_axpby(n, shift);
  check_axpby(std::int64_t{4096} * 1024 * 4 + 1, 0);  // more elements than the capped grid covers at once
}
