// Tests of the token embedding: gather, scatter-add gradient with repeated ids, errors.
#include <catch2/catch.hpp>

#include "ops/cases/embedding.hpp"
#include "ops/embedding.hpp"
#include "support/gradcheck.hpp"
#include "support/op_testing.hpp"

using namespace mhc;
using namespace mhc::test;

TEST_CASE("embedding forward gathers rows; weight gradient with repeated ids", "[cpu][embedding]") {
  const std::int64_t V = 6, C = 4;
  HostTensor ids = i32_tensor({2, 0, 5, 2, 2, 3});  // id 2 three times, ids 1 and 4 unused
  const std::int64_t N = ids.numel();
  HostTensor table = random_tensor(Shape{V, C}, "table");
  HostTensor out(DType::f64, Shape{N, C});
  ops::embedding_forward(out, ids, table);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t c = 0; c < C; ++c) CHECK(out.get(n * C + c) == table.get(ids.ptr<std::int32_t>()[n] * C + c));

  HostTensor dout = random_tensor(Shape{N, C}, "dout");
  HostTensor prior = random_tensor(Shape{V, C}, "prior");
  HostTensor dtable = clone(prior);
  ops::embedding_backward_weight(dtable, dout, ids);  // accumulates onto prior
  HostTensor grad(DType::f64, Shape{V, C});
  for (std::int64_t k = 0; k < grad.numel(); ++k) grad.set(k, dtable.get(k) - prior.get(k));
  for (std::int64_t c = 0; c < C; ++c) {
    CHECK(grad.get(1 * C + c) == 0.0);
    CHECK(grad.get(4 * C + c) == 0.0);
  }

  // The gradient against finite differences; the f32 path: the gather is exact, the scatter-add sums in position
  // order.
  const OpCase op = embedding_case(ids, V, C);
  check_op_gradients(op);
  check_op_f32_vs_f64(op, {{"out", 1e-6}, {"dtable", 1e-5}});
}

TEST_CASE("embedding rejects out-of-range ids and bad shapes", "[cpu][embedding]") {
  HostTensor table(DType::f64, Shape{5, 3}), out(DType::f64, Shape{2, 3});
  CHECK_SHAPE_ERROR(ops::embedding_forward(out, i32_tensor({1, 7}), table), "token id 7");
  CHECK_SHAPE_ERROR(ops::embedding_forward(out, i32_tensor({1, 7}), table), "V = 5");
  CHECK_SHAPE_ERROR(ops::embedding_forward(out, i32_tensor({-1, 0}), table), "token id -1");
  CHECK_SHAPE_ERROR(ops::embedding_backward_weight(table, out, i32_tensor({5, 0})), "token id 5");
  CHECK_SHAPE_ERROR(ops::embedding_forward(out, i32_tensor({1, 2, 3}), table), "embedding out");
  HostTensor float_ids(DType::f32, Shape{2});
  CHECK_SHAPE_ERROR(ops::embedding_forward(out, float_ids, table), "ids must be i32");
  HostTensor out32(DType::f32, Shape{2, 3});
  CHECK_SHAPE_ERROR(ops::embedding_forward(out32, i32_tensor({1, 2}), table), "embedding out (f32)");
}
