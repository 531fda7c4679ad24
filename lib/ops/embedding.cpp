// Checked entry points of the token embedding.
#include "ops/embedding.hpp"

#include "ops/cpu/embedding_cpu.hpp"
#include "ops/dispatch.hpp"

namespace mhc::ops {

namespace {

// Validates ids (N) i32 on the CPU and that every id lies in [0, V).
void check_ids(const Tensor& ids, std::int64_t V, const char* op) {
  expect_rank(ids, 1, "ids");
  expect_dtype(ids, DType::i32, "ids");
  expect_device(ids, Device::cpu, "ids");
  expect_defined(ids, "ids");
  const std::int32_t* id = ids.ptr<std::int32_t>();
  for (std::int64_t n = 0; n < ids.numel(); ++n) {
    if (id[n] < 0 || id[n] >= V) {
      throw ShapeError(detail::concat(op, ": token id ", id[n], " at position ", n, " is outside the vocabulary [0, V = ",
                                      V, ")"));
    }
  }
}

}  // namespace

void embedding_forward(Tensor out, Tensor ids, Tensor table) {
  expect_rank(table, 2, "embedding table");
  expect_cpu_float(table, "embedding table");
  check_ids(ids, table.dim(0), "embedding_forward");
  expect_shape(out, Shape{ids.dim(0), table.dim(1)}, "embedding out");
  expect_cpu_float(out, "embedding out");
  expect_same_dtype(out, table, "embedding out", "table");
  dispatch_cpu_float(table.dtype, "embedding_forward", [&](auto zero) {
    using T = decltype(zero);
    cpu::embedding_forward<T>(out.ptr<T>(), ids.ptr<std::int32_t>(), table.ptr<T>(), ids.dim(0), table.dim(1));
  });
}

void embedding_backward_weight(Tensor dtable, Tensor dout, Tensor ids) {
  expect_rank(dtable, 2, "embedding dtable");
  expect_cpu_float(dtable, "embedding dtable");
  check_ids(ids, dtable.dim(0), "embedding_backward_weight");
  expect_shape(dout, Shape{ids.dim(0), dtable.dim(1)}, "embedding dout");
  expect_cpu_float(dout, "embedding dout");
  expect_same_dtype(dtable, dout, "embedding dtable", "dout");
  dispatch_cpu_float(dtable.dtype, "embedding_backward_weight", [&](auto zero) {
    using T = decltype(zero);
    cpu::embedding_backward_weight<T>(dtable.ptr<T>(), dout.ptr<T>(), ids.ptr<std::int32_t>(), ids.dim(0),
                                      dtable.dim(1));
  });
}

}  // namespace mhc::ops
