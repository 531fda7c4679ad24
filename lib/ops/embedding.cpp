// Checked entry points of the token embedding; dispatch to the CPU oracle or the CUDA kernels.
#include "ops/embedding.hpp"

#include <vector>

#include "kernels/embedding.hpp"
#include "ops/cpu/embedding_cpu.hpp"
#include "ops/device_dispatch.hpp"
#include "ops/dispatch.hpp"

namespace mhc::ops {

namespace {

// Validates ids (N) i32 on `device` and that every id lies in [0, V) (GPU ids are read through a host copy).
void check_ids(const Tensor& ids, std::int64_t V, Device device, const char* op) {
  expect_rank(ids, 1, "ids");
  expect_dtype(ids, DType::i32, "ids");
  expect_device(ids, device, "ids");
  expect_defined(ids, "ids");
  std::vector<std::int32_t> copy;
  if (device == Device::cuda) copy = download_i32(ids, "ids");
  const std::int32_t* id = device == Device::cuda ? copy.data() : ids.ptr<std::int32_t>();
  for (std::int64_t n = 0; n < ids.numel(); ++n) {
    if (id[n] < 0 || id[n] >= V) {
      throw ShapeError(detail::concat(op, ": token id ", id[n], " at position ", n, " is outside the vocabulary [0, V = ",
                                      V, ")"));
    }
  }
}

// A float tensor of `shape` with the dtype and device of `like`.
void expect_like(const Tensor& t, const Shape& shape, const Tensor& like, const char* name, const char* like_name) {
  expect_shape(t, shape, name);
  expect_float(t, name);
  expect_same_dtype(t, like, name, like_name);
  expect_device(t, like.device, name);
}

}  // namespace

void embedding_forward(Tensor out, Tensor ids, Tensor table) {
  expect_rank(table, 2, "embedding table");
  expect_float(table, "embedding table");
  check_ids(ids, table.dim(0), table.device, "embedding_forward");
  expect_like(out, Shape{ids.dim(0), table.dim(1)}, table, "embedding out", "table");
  if (on_cuda(table, "embedding_forward")) {
    kernels::launch_embedding_forward(out.ptr<float>(), ids.ptr<std::int32_t>(), table.ptr<float>(), ids.dim(0),
                                      table.dim(1), current_stream());
    return;
  }
  dispatch_cpu_float(table.dtype, "embedding_forward", [&](auto zero) {
    using T = decltype(zero);
    cpu::embedding_forward<T>(out.ptr<T>(), ids.ptr<std::int32_t>(), table.ptr<T>(), ids.dim(0), table.dim(1));
  });
}

void embedding_backward_weight(Tensor dtable, Tensor dout, Tensor ids) {
  expect_rank(dtable, 2, "embedding dtable");
  expect_float(dtable, "embedding dtable");
  check_ids(ids, dtable.dim(0), dtable.device, "embedding_backward_weight");
  expect_like(dout, Shape{ids.dim(0), dtable.dim(1)}, dtable, "embedding dout", "dtable");
  if (on_cuda(dtable, "embedding_backward_weight")) {
    kernels::launch_embedding_backward_weight(dtable.ptr<float>(), dout.ptr<float>(), ids.ptr<std::int32_t>(),
                                              ids.dim(0), dtable.dim(0), dtable.dim(1), current_stream());
    return;
  }
  dispatch_cpu_float(dtable.dtype, "embedding_backward_weight", [&](auto zero) {
    using T = decltype(zero);
    cpu::embedding_backward_weight<T>(dtable.ptr<T>(), dout.ptr<T>(), ids.ptr<std::int32_t>(), ids.dim(0),
                                      dtable.dim(1));
  });
}

}  // namespace mhc::ops
