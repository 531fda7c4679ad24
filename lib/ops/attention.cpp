// Checked entry points of the causal attention core.
#include "ops/attention.hpp"

#include <utility>

#include "ops/cpu/attention_cpu.hpp"
#include "ops/dispatch.hpp"

namespace mhc::ops {

namespace {

// Every tensor in `ts` must have `shape` and the dtype of `ref`, on the CPU.
void expect_all(std::initializer_list<std::pair<Tensor, const char*>> ts, const Shape& shape, const Tensor& ref,
                const char* ref_name) {
  for (const auto& [t, name] : ts) {
    expect_shape(t, shape, name);
    expect_cpu_float(t, name);
    expect_same_dtype(t, ref, name, ref_name);
  }
}

}  // namespace

void attention_forward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v) {
  expect_rank(q, 4, "attention q");
  expect_cpu_float(q, "attention q");
  const std::int64_t B = q.dim(0), T = q.dim(1), H = q.dim(2), D = q.dim(3);
  MHC_CHECK(D > 0, ShapeError, "attention q: head dimension D must be > 0, got ", q.describe());
  expect_all({{k, "attention k"}, {v, "attention v"}, {out, "attention out"}}, q.shape, q, "q");
  expect_all({{lse, "attention lse"}}, Shape{B, H, T}, q, "q");
  dispatch_cpu_float(q.dtype, "attention_forward", [&](auto zero) {
    using S = decltype(zero);
    cpu::attention_forward<S>(out.ptr<S>(), lse.ptr<S>(), q.ptr<S>(), k.ptr<S>(), v.ptr<S>(), B, T, H, D);
  });
}

void attention_backward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor q, Tensor k, Tensor v, Tensor out,
                        Tensor lse) {
  expect_rank(q, 4, "attention q");
  expect_cpu_float(q, "attention q");
  const std::int64_t B = q.dim(0), T = q.dim(1), H = q.dim(2), D = q.dim(3);
  expect_all({{k, "attention k"},
              {v, "attention v"},
              {out, "attention out"},
              {dout, "attention dout"},
              {dq, "attention dq"},
              {dk, "attention dk"},
              {dv, "attention dv"}},
             q.shape, q, "q");
  expect_all({{lse, "attention lse"}}, Shape{B, H, T}, q, "q");
  dispatch_cpu_float(q.dtype, "attention_backward", [&](auto zero) {
    using S = decltype(zero);
    cpu::attention_backward<S>(dq.ptr<S>(), dk.ptr<S>(), dv.ptr<S>(), dout.ptr<S>(), q.ptr<S>(), k.ptr<S>(),
                               v.ptr<S>(), out.ptr<S>(), lse.ptr<S>(), B, T, H, D);
  });
}

}  // namespace mhc::ops
