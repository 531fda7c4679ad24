// Tests of the CPU's bf16 emulation (train.precision "bf16"): every op the bf16 model stores or reads bf16 through,
// run with those tensors in bf16 against its f32 path (bit for bit) and the f64 oracle (support/op_harness_bf16.hpp).
#include <catch2/catch.hpp>

#include "ops/bf16_staging.hpp"
#include "ops/cases/attention.hpp"
#include "ops/cases/matmul.hpp"
#include "ops/cases/rmsnorm.hpp"
#include "ops/cases/rope.hpp"
#include "ops/cases/stream_mix.hpp"
#include "ops/cases/swiglu.hpp"
#include "ops/matmul.hpp"
#include "support/op_harness_bf16.hpp"

using namespace mhc;
using namespace mhc::test;

// The sets of the sublayers (model/sublayer.cpp: the matmul operands in bf16, sums feeding a norm in f32), then
// every float tensor the op allows in bf16.
TEST_CASE("bf16 linear layer: bf16 operands, f32 accumulation, f32 or bf16 results", "[cpu][bf16]") {
  check_op_bf16(linear_case(37, 48, 20), {"x", "w", "y", "dy", "dx"});       // q = xn wq^T: every operand bf16
  check_op_bf16(linear_case(37, 48, 20, /*accumulate_dx=*/true), {"x", "w", "dy"});  // dxn += dq wq: f32 dxn
  check_op_bf16(linear_case(16, 64, 24), {"x", "w", "dy"});                  // y = o wo^T: the f32 sublayer output
}

TEST_CASE("bf16 rmsnorm: bf16 normalised output, f32 statistics", "[cpu][bf16]") {
  check_op_bf16(rmsnorm_case(9, 40), {"out"});  // xn from the f32 u
  check_op_bf16(rmsnorm_case(9, 40), {"x", "out", "dout", "dx"});
}

TEST_CASE("bf16 attention: bf16 q, k, v, output and gradients, f32 lse", "[cpu][bf16]") {
  check_op_bf16(attention_case(2, 9, 2, 8, 1.5, 1.5), {"q", "k", "v", "out", "dout", "dq", "dk", "dv"});
}

TEST_CASE("bf16 rope: in bf16 out of bf16", "[cpu][bf16]") {
  check_op_bf16(rope_case(2, 7, 2, 8), {"x", "out", "dout", "dx"});
}

TEST_CASE("bf16 swiglu: bf16 gate, up, h and their gradients", "[cpu][bf16]") {
  check_op_bf16(swiglu_case(11, 24), {"gate", "up", "out", "dout", "dgate", "dup"});
}

TEST_CASE("bf16 stream post+res backward: the sublayer's dy stored in bf16", "[cpu][bf16]") {
  check_op_bf16(stream_post_res_case(6, 4, 33), {"dy"});
}

TEST_CASE("bf16 staging rounds each result once and names the op for a GPU tensor", "[cpu][bf16]") {
  // 1 + 2^-8 + 2^-9 as an f32 sum of three terms rounds up to 1 + 2^-7 in bf16; rounding after each term would give 1.
  HostTensor a(DType::bf16, Shape{1, 3}), b(DType::bf16, Shape{3, 1}), out(DType::bf16, Shape{1, 1});
  const float terms[3] = {1.0f, 1.0f / 256, 1.0f / 512};
  for (int k = 0; k < 3; ++k) {
    a.ptr<bf16_t>()[k] = float_to_bf16(terms[k]);
    b.ptr<bf16_t>()[k] = float_to_bf16(1.0f);
  }
  ops::matmul(out, a, b, false, false);
  CHECK(bf16_to_float(out.ptr<bf16_t>()[0]) == 1.0f + 1.0f / 128);

  alignas(16) static std::uint16_t fake[4];  // never read: the staging refuses the tensor first
  const Tensor gpu(fake, DType::bf16, Shape{2, 2}, Device::cuda);
  HostTensor host(DType::f32, Shape{2, 2});
  CHECK_THROWS_AS(ops::matmul(host, gpu, host, false, false), DeviceError);
  CHECK_THROWS_WITH(ops::matmul(host, gpu, host, false, false), Catch::Contains("matmul: got a bf16 cuda tensor"));
}
