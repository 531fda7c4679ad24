// [cuda] Token embedding kernels vs the CPU oracle (fp32 both), through the ops::embedding_* entry points.
#include <catch2/catch.hpp>

#include "cuda/device_support.hpp"
#include "ops/cases/embedding.hpp"
#include "ops/embedding.hpp"

using namespace mhc;
using namespace mhc::test;

namespace {

// ids (N) in [0, V): a scrambled walk with repeats; with `skewed`, every third position is id 0 (a long run).
HostTensor make_ids(std::int64_t N, std::int64_t V, bool skewed) {
  HostTensor ids(DType::i32, Shape{N});
  for (std::int64_t n = 0; n < N; ++n)
    ids.ptr<std::int32_t>()[n] = static_cast<std::int32_t>(skewed && n % 3 == 0 ? 0 : (n * 7919 + n * n % 13) % V);
  return ids;
}

// The forward is a copy and the weight gradient adds each row's dout rows in position order on both sides (the
// kernel groups them with a stable sort), so both match the oracle bitwise.
void check_embedding(std::int64_t N, std::int64_t V, std::int64_t C, bool skewed) {
  INFO((skewed ? "skewed ids" : "ids"));
  check_op_cuda(embedding_case(make_ids(N, V, skewed), V, C), DType::f32,
                {{"out", {0.0, 0.0}}, {"dtable", {0.0, 0.0}}});
}

}  // namespace

TEST_CASE("embedding kernels match the CPU oracle bitwise", "[cuda]") {
  check_embedding(1, 1, 1, false);
  check_embedding(5, 3, 7, false);
  check_embedding(37, 1000, 33, false);  // most rows unused: they must stay untouched
  check_embedding(1000, 50, 128, false);
  check_embedding(300, 5, 1030, true);   // runs of hundreds of positions per id
  check_embedding(4097, 32000, 64, true);
  check_embedding(2048, 70000, 5, false);  // ids above 2^16: a 17-bit sort
}

TEST_CASE("embedding on CUDA validates the ids", "[cuda]") {
  const std::int64_t N = 6, V = 4, C = 3;
  HostTensor ids = make_ids(N, V, false);
  ids.ptr<std::int32_t>()[4] = 4;
  Arena arena = device_arena(4096);
  const Tensor d_ids = upload(arena, ids, "ids"), table = arena.alloc(DType::f32, Shape{V, C}, "table");
  const Tensor out = arena.alloc(DType::f32, Shape{N, C}, "out");
  CHECK_THROWS_WITH(ops::embedding_forward(out, d_ids, table), Catch::Contains("token id 4 at position 4"));
  CHECK_THROWS_AS(ops::embedding_backward_weight(table, out, d_ids), ShapeError);
  CHECK_THROWS_WITH(ops::embedding_forward(out, ids, table), Catch::Contains("ids must be on cuda"));
  const Tensor no_ids = arena.alloc(DType::i32, Shape{0}, "no ids");
  const Tensor no_rows = arena.alloc(DType::f32, Shape{0, C}, "no rows");
  CHECK_NOTHROW(ops::embedding_forward(no_rows, no_ids, table));
  CHECK_NOTHROW(ops::embedding_backward_weight(table, no_rows, no_ids));
}
