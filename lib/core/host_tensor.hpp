// HostTensor: a move-only owner of one zero-filled host allocation plus its Tensor view (tests, tools, scratch).
#pragma once

#include <memory>
#include <vector>

#include "core/tensor.hpp"

namespace mhc {

class HostTensor {
 public:
  HostTensor() = default;
  HostTensor(DType dtype, Shape shape)
      : storage_(new std::byte[static_cast<std::size_t>(shape.numel() * dtype_size(dtype))]()),
        view_(storage_.get(), dtype, shape, Device::cpu) {}

  const Tensor& view() const { return view_; }
  operator Tensor() const { return view_; }  // NOLINT: a HostTensor is usable wherever a view is expected
  template <typename T>
  T* ptr() const { return view_.ptr<T>(); }
  std::int64_t numel() const { return view_.numel(); }

  // Element k read or written as double, whatever the float dtype (f32 or f64).
  double get(std::int64_t k) const {
    return view_.dtype == DType::f64 ? view_.ptr<double>()[k] : static_cast<double>(view_.ptr<float>()[k]);
  }
  void set(std::int64_t k, double v) const {
    if (view_.dtype == DType::f64) {
      view_.ptr<double>()[k] = v;
    } else {
      view_.ptr<float>()[k] = static_cast<float>(v);
    }
  }

 private:
  std::unique_ptr<std::byte[]> storage_;
  Tensor view_;
};

}  // namespace mhc
