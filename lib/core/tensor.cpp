// Tensor view helpers and the shared precondition checks.
#include "core/tensor.hpp"

#include <sstream>

namespace mhc {

Shape::Shape(std::initializer_list<std::int64_t> extents) {
  MHC_CHECK(static_cast<int>(extents.size()) <= kMaxRank, ShapeError, "rank ", extents.size(), " exceeds ", kMaxRank);
  for (std::int64_t e : extents) {
    MHC_CHECK(e >= 0, ShapeError, "negative extent ", e);
    dims[static_cast<std::size_t>(rank++)] = e;
  }
}

std::int64_t Shape::numel() const {
  std::int64_t n = 1;
  for (int i = 0; i < rank; ++i) n *= dims[static_cast<std::size_t>(i)];
  return n;
}

bool Shape::operator==(const Shape& o) const {
  if (rank != o.rank) return false;
  for (int i = 0; i < rank; ++i)
    if (dims[static_cast<std::size_t>(i)] != o.dims[static_cast<std::size_t>(i)]) return false;
  return true;
}

std::string Shape::str() const {
  std::ostringstream os;
  os << "(";
  for (int i = 0; i < rank; ++i) os << (i ? ", " : "") << dims[static_cast<std::size_t>(i)];
  os << ")";
  return os.str();
}

std::int64_t Tensor::dim(int i) const {
  const int k = i < 0 ? shape.rank + i : i;
  MHC_CHECK(k >= 0 && k < shape.rank, ShapeError, "dimension ", i, " of a rank-", shape.rank, " tensor");
  return shape[k];
}

Tensor Tensor::reshape(Shape s) const {
  MHC_CHECK(s.numel() == numel(), ShapeError, "cannot reshape ", shape.str(), " to ", s.str());
  Tensor t = *this;
  t.shape = s;
  return t;
}

Tensor Tensor::slice_rows(std::int64_t begin, std::int64_t end) const {
  MHC_CHECK(rank() >= 1 && 0 <= begin && begin <= end && end <= shape[0], ShapeError, "rows [", begin, ", ", end,
            ") of ", shape.str());
  const std::int64_t row = shape[0] == 0 ? 0 : numel() / shape[0];
  Tensor t = *this;
  t.data = static_cast<char*>(data) + begin * row * dtype_size(dtype);
  t.shape.dims[0] = end - begin;
  return t;
}

Tensor Tensor::flatten_to_2d() const {
  MHC_CHECK(rank() >= 1, ShapeError, "cannot flatten a scalar");
  const std::int64_t cols = shape[rank() - 1];
  return reshape(Shape{cols == 0 ? 0 : numel() / cols, cols});
}

std::string Tensor::describe() const {
  std::ostringstream os;
  os << dtype_name(dtype) << " " << device_name(device) << " " << shape.str();
  return os.str();
}

void expect_rank(const Tensor& t, int rank, const char* what) {
  MHC_CHECK(t.rank() == rank, ShapeError, what, " must have rank ", rank, ", got ", t.describe());
}

void expect_shape(const Tensor& t, const Shape& s, const char* what) {
  MHC_CHECK(t.shape == s, ShapeError, what, " must have shape ", s.str(), ", got ", t.describe());
}

void expect_dtype(const Tensor& t, DType d, const char* what) {
  MHC_CHECK(t.dtype == d, ShapeError, what, " must be ", dtype_name(d), ", got ", t.describe());
}

void expect_same_dtype(const Tensor& a, const Tensor& b, const char* what_a, const char* what_b) {
  MHC_CHECK(a.dtype == b.dtype, ShapeError, what_a, " (", dtype_name(a.dtype), ") and ", what_b, " (",
            dtype_name(b.dtype), ") must have the same dtype");
}

void expect_device(const Tensor& t, Device d, const char* what) {
  MHC_CHECK(t.device == d, ShapeError, what, " must be on ", device_name(d), ", got ", t.describe());
}

void expect_defined(const Tensor& t, const char* what) {
  MHC_CHECK(t.defined() || t.numel() == 0, ShapeError, what, " has no data");
}

void expect_cpu_float(const Tensor& t, const char* what) {
  expect_defined(t, what);
  expect_device(t, Device::cpu, what);
  MHC_CHECK(t.dtype == DType::f32 || t.dtype == DType::f64, ShapeError, what, " must be f32 or f64 on the CPU, got ",
            t.describe());
}

}  // namespace mhc
