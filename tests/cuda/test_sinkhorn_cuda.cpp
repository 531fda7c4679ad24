// [cuda] Sinkhorn forward kernel vs the CPU oracle (fp32 both), through the ops::sinkhorn_forward entry point.
#include <catch2/catch.hpp>

#include <string>

#include "cuda/device_support.hpp"
#include "ops/sinkhorn.hpp"
#include "support/gradcheck.hpp"
#include "support/mhc_inputs.hpp"

using namespace mhc;
using namespace mhc::test;

namespace {

void check_sinkhorn(std::int64_t N, std::int64_t n, int iters, bool identity) {
  const std::string tag = "N " + std::to_string(N) + " n " + std::to_string(n) + " iters " + std::to_string(iters) +
                          (identity ? " identity" : " random");
  INFO(tag);
  const HostTensor logits = to_dtype(identity ? identity_logits(N, n, "cuda.sk.id", 0.5)
                                              : random_tensor(Shape{N, n, n}, "cuda.sk.rand", 2.0),
                                     DType::f32);
  const HostTensor ref = like(logits, DType::f32);
  ops::sinkhorn_forward(ref, logits, iters);

  Arena arena = device_arena(2 * logits.view().bytes());
  const Tensor d_logits = upload(arena, logits, "logits");
  const Tensor d_h = upload(arena, nan_tensor(DType::f32, logits.view().shape), "h");
  ops::sinkhorn_forward(d_h, d_logits, iters);
  // Same operation order as the oracle; only expf (<= 2 ulp on the GPU) differs.
  check_close("h (" + tag + ")", download(d_h), ref, 1e-6, 1e-5);
}

}  // namespace

TEST_CASE("sinkhorn_forward kernel matches the CPU oracle", "[cuda]") {
  for (const std::int64_t n : {1, 2, 3, 4, 8})
    for (const std::int64_t N : {1, 127, 129, 1000})
      for (const int iters : {1, 20}) check_sinkhorn(N, n, iters, n % 2 == 0);
  check_sinkhorn(16384 + 5, 4, 20, true);
  check_sinkhorn(4099, 8, 20, false);
}

TEST_CASE("sinkhorn_forward on CUDA wants f32 and leaves empty inputs alone", "[cuda]") {
  Arena arena = device_arena(2 * 4 * 4 * 8);
  const Tensor d64 = arena.alloc(DType::f64, Shape{2, 2, 2}, "f64");
  CHECK_THROWS_AS(ops::sinkhorn_forward(d64, d64, 3), ShapeError);
  const Tensor empty = arena.alloc(DType::f32, Shape{0, 4, 4}, "empty");
  CHECK_NOTHROW(ops::sinkhorn_forward(empty, empty, 3));
}
