// Tensor: a trivially-copyable, non-owning view {data, dtype, shape, device}; contiguous row-major.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "core/dtype.hpp"
#include "core/error.hpp"

namespace mhc {

constexpr int kMaxRank = 6;

// Up to kMaxRank 64-bit extents.
struct Shape {
  std::array<std::int64_t, kMaxRank> dims{};
  int rank = 0;

  Shape() = default;
  Shape(std::initializer_list<std::int64_t> extents);

  std::int64_t operator[](int i) const { return dims[static_cast<std::size_t>(i)]; }
  std::int64_t numel() const;
  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::string str() const;  // "(2, 3, 4)"
};

struct Tensor {
  void* data = nullptr;
  DType dtype = DType::f32;
  Device device = Device::cpu;
  Shape shape;

  Tensor() = default;
  Tensor(void* d, DType t, Shape s, Device dev = Device::cpu) : data(d), dtype(t), device(dev), shape(s) {}

  int rank() const { return shape.rank; }
  // Extent of dimension i; negative i counts from the back.
  std::int64_t dim(int i) const;
  std::int64_t numel() const { return shape.numel(); }
  std::int64_t bytes() const { return numel() * dtype_size(dtype); }
  bool defined() const { return data != nullptr; }

  // Typed pointer; throws ShapeError when T does not match dtype.
  template <typename T>
  T* ptr() const {
    MHC_CHECK(dtype_of<T>::value == dtype, ShapeError, "tensor holds ", dtype_name(dtype), ", accessed as ",
              dtype_name(dtype_of<T>::value));
    return static_cast<T*>(data);
  }

  // Same data, new shape with the same element count.
  Tensor reshape(Shape s) const;
  // Rows [begin, end) along dimension 0.
  Tensor slice_rows(std::int64_t begin, std::int64_t end) const;
  // Collapses all leading dimensions: (a, b, ..., c) -> (a*b*..., c).
  Tensor flatten_to_2d() const;

  std::string describe() const;  // "f32 cpu (2, 3)"
};

// Precondition helpers shared by every op entry point; `what` names the argument.
void expect_rank(const Tensor& t, int rank, const char* what);
void expect_shape(const Tensor& t, const Shape& s, const char* what);
void expect_dtype(const Tensor& t, DType d, const char* what);
void expect_same_dtype(const Tensor& a, const Tensor& b, const char* what_a, const char* what_b);
void expect_device(const Tensor& t, Device d, const char* what);
void expect_defined(const Tensor& t, const char* what);
// Float dtype usable by the CPU oracle (f32 or f64).
void expect_cpu_float(const Tensor& t, const char* what);

}  // namespace mhc
