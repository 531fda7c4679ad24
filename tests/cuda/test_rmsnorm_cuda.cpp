// [cuda] RMSNorm kernels vs the CPU oracle (fp32 both), through the ops::rmsnorm_* entry points.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "cuda/device_support.hpp"
#include "cuda/f32_inputs.hpp"
#include "ops/cases/rmsnorm.hpp"
#include "ops/rmsnorm.hpp"

using namespace mhc;
using namespace mhc::test;

namespace {

// Both sides reduce in double and round each output once to f32 (the same double formula, products rounded
// alike); only the order of the double sums differs (~1e-16 relative), which can flip at most the last f32 bit.
// Hence rtol 1e-6 (a few ulp); the atol covers outputs that cancel to ~0 (the double error is ~1e-16 * |terms|).
constexpr double kRtol = 1e-6;
constexpr double kAtol = 1e-10;

void check_rmsnorm(std::int64_t N, std::int64_t C) {
  const OpCase c = rmsnorm_case(N, C);
  INFO(c.op);
  // dw = prior + f32(sum of N O(1) terms): the sum (~sqrt(N)) may round 1 ulp apart, which stays in absolute terms
  // when the prior cancels it, hence an atol of ~2 ulp of sqrt(N). The backward gets the oracle's rstd (the
  // harness hands it the oracle's forward outputs), so it is compared on its own.
  const CudaOpRun run = check_op_cuda(c, DType::f32,
                                      {{"out", {kAtol, kRtol}},
                                       {"rstd", {0.0, kRtol}},
                                       {"dx", {kAtol, kRtol}},
                                       {"dw", {2.5e-7 * std::sqrt(static_cast<double>(N)), kRtol}}});
  const OpTensors& d = run.device;

  // dx written in place over dout.
  ops::rmsnorm_backward_input(d["dout"], d["dout"], d["x"], d["w"], d["rstd"]);
  check_close("dx in place", download(d["dout"]), run.oracle.owned.at("dx"), kAtol, kRtol);
}

}  // namespace

TEST_CASE("rmsnorm kernels match the CPU oracle", "[cuda]") {
  for (const std::int64_t C : {1, 7, 33, 256, 257, 1030})
    for (const std::int64_t N : {1, 3, 37, 300}) check_rmsnorm(N, C);
  check_rmsnorm(5000, 65);   // 157 row chunks of 32 in the weight gradient
  check_rmsnorm(9001, 40);   // the 256-chunk cap: 251 chunks of 36 rows, the last one of a single row
  check_rmsnorm(2048, 1024);
}

TEST_CASE("rmsnorm weight gradient repeats its bits and accumulates", "[cuda]") {
  const std::int64_t N = 3001, C = 100;
  const HostTensor x = random_f32(Shape{N, C}, "cuda.rms.det.x"), dout = random_f32(Shape{N, C}, "cuda.rms.det.g");
  const HostTensor rstd = random_f32(Shape{N}, "cuda.rms.det.r");
  Arena arena = device_arena(2 * x.view().bytes() + rstd.view().bytes() + 2 * C * 4);
  const Tensor d_x = upload(arena, x, "x"), d_dout = upload(arena, dout, "dout"), d_rstd = upload(arena, rstd, "rstd");
  const Tensor a = upload(arena, HostTensor(DType::f32, Shape{C}), "a");
  const Tensor b = upload(arena, HostTensor(DType::f32, Shape{C}), "b");
  ops::rmsnorm_backward_weight(a, d_dout, d_x, d_rstd);
  ops::rmsnorm_backward_weight(b, d_dout, d_x, d_rstd);
  const HostTensor once = download(a);
  check_close("two runs", download(b), once, 0.0, 0.0);
  ops::rmsnorm_backward_weight(a, d_dout, d_x, d_rstd);  // a = once + once, exactly 2 * once
  const HostTensor twice(DType::f32, Shape{C});
  for (std::int64_t c = 0; c < C; ++c) twice.set(c, 2.0 * once.get(c));
  check_close("accumulated", download(a), twice, 0.0, 0.0);
}

TEST_CASE("rmsnorm on CUDA checks dtype and device", "[cuda]") {
  Arena arena = device_arena(4096);
  const Tensor x = arena.alloc(DType::f32, Shape{2, 4}, "x"), w = arena.alloc(DType::f32, Shape{4}, "w");
  const Tensor r = arena.alloc(DType::f32, Shape{2}, "r"), x64 = arena.alloc(DType::f64, Shape{2, 4}, "x64");
  const Tensor r64 = arena.alloc(DType::f64, Shape{2}, "r64"), w64 = arena.alloc(DType::f64, Shape{4}, "w64");
  const HostTensor host_w(DType::f32, Shape{4});
  CHECK_THROWS_WITH(ops::rmsnorm_forward(x, r, x, host_w, 1e-6), Catch::Contains("rmsnorm w"));
  CHECK_THROWS_WITH(ops::rmsnorm_forward(x64, r64, x64, w64, 1e-6), Catch::Contains("f32"));
  const Tensor empty = arena.alloc(DType::f32, Shape{0, 4}, "empty"), empty_r = arena.alloc(DType::f32, Shape{0}, "e");
  CHECK_NOTHROW(ops::rmsnorm_forward(empty, empty_r, empty, w, 1e-6));
  CHECK_NOTHROW(ops::rmsnorm_backward_weight(w, empty, empty, empty_r));
}
