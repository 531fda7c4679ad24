// [cuda] Sinkhorn forward and backward kernels vs the CPU oracle (fp32 both), through the ops:: entry points.
#include <catch2/catch.hpp>

#include <string>

#include "cuda/device_support.hpp"
#include "ops/cases/sinkhorn.hpp"
#include "ops/sinkhorn.hpp"
#include "support/gradcheck.hpp"
#include "support/mhc_inputs.hpp"

using namespace mhc;
using namespace mhc::test;

namespace {

// The forward and the backward of one case. h: same operation order as the oracle; only expf (<= 2 ulp on the GPU)
// differs. dlogits: same operation order and rounding as the oracle (products explicitly rounded, no FMA); only expf
// differs (<= 2 ulp). Emulating that on the CPU (exp perturbed by a random -2..+2 ulp, 2000 tokens per n in
// {2, 3, 4, 8}, iters in {1, 20, 100}) moved dlogits by at most 0.44 of (1e-6 + 1e-5 |ref|); we allow twice that.
void check_sinkhorn(std::int64_t N, std::int64_t n, int iters, bool identity) {
  check_op_cuda(sinkhorn_case(N, n, iters, identity, identity ? 0.5 : 2.0), DType::f32,
                {{"h", {1e-6, 1e-5}}, {"dlogits", {2e-6, 2e-5}}});
}

}  // namespace

TEST_CASE("sinkhorn kernels match the CPU oracle", "[cuda]") {
  for (const std::int64_t n : {1, 2, 3, 4, 8})
    for (const std::int64_t N : {1, 17, 127, 129, 1000})
      for (const int iters : {1, 20}) check_sinkhorn(N, n, iters, n % 2 == 0);
  check_sinkhorn(16384 + 5, 4, 20, true);  // several blocks of 18 tokens in the backward (48 KiB of iterates each)
  check_sinkhorn(4099, 8, 20, false);
  check_sinkhorn(37, 8, 100, false);  // 51 KiB of iterates per token: the opted-in shared memory path
}

TEST_CASE("sinkhorn_backward on CUDA is deterministic and refuses what does not fit", "[cuda]") {
  const std::int64_t N = 300, n = 4;
  const HostTensor logits = to_dtype(identity_logits(N, n, "cuda.skd.id", 0.5), DType::f32);
  const HostTensor dh = to_dtype(random_tensor(Shape{N, n, n}, "cuda.skd.dh"), DType::f32);
  Arena arena = device_arena(4 * logits.view().bytes());
  const Tensor d_logits = upload(arena, logits, "logits"), d_dh = upload(arena, dh, "dh");
  const Tensor a = upload(arena, nan_tensor(DType::f32, logits.view().shape), "a");
  const Tensor b = upload(arena, nan_tensor(DType::f32, logits.view().shape), "b");
  ops::sinkhorn_backward(a, d_dh, d_logits, 20);
  ops::sinkhorn_backward(b, d_dh, d_logits, 20);
  check_close("two runs", download(a), download(b), 0.0, 0.0);
  // n = 8 with 10^4 iterations needs 5 MB of shared memory per token.
  CHECK_THROWS_AS(ops::sinkhorn_backward(a.reshape(Shape{75, 8, 8}), d_dh.reshape(Shape{75, 8, 8}),
                                         d_logits.reshape(Shape{75, 8, 8}), 10000),
                  ShapeError);
}

TEST_CASE("sinkhorn_forward on CUDA wants f32 and leaves empty inputs alone", "[cuda]") {
  Arena arena = device_arena(2 * 4 * 4 * 8);
  const Tensor d64 = arena.alloc(DType::f64, Shape{2, 2, 2}, "f64");
  CHECK_THROWS_AS(ops::sinkhorn_forward(d64, d64, 3), ShapeError);
  const Tensor empty = arena.alloc(DType::f32, Shape{0, 4, 4}, "empty");
  CHECK_NOTHROW(ops::sinkhorn_forward(empty, empty, 3));
}
