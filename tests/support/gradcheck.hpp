// Test support: random host tensors and central finite-difference gradient checks in double precision.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <string>

#include "core/host_tensor.hpp"
#include "core/rng.hpp"

namespace mhc::test {

// A host tensor of `dtype` filled with N(0, scale^2) values from the counter RNG keyed by `name`.
inline HostTensor random_tensor(Shape shape, const std::string& name, double scale = 1.0, DType dtype = DType::f64) {
  HostTensor t(dtype, shape);
  fill_normal(t, 1234, name, 0.0, scale);
  return t;
}

// sum_k a[k] * b[k] over two float tensors of equal size (the scalar loss <dy, y> of a gradient check).
inline double dot(const Tensor& a, const Tensor& b) {
  REQUIRE(a.numel() == b.numel());
  double s = 0;
  for (std::int64_t k = 0; k < a.numel(); ++k) {
    const double x = a.dtype == DType::f64 ? a.ptr<double>()[k] : a.ptr<float>()[k];
    const double y = b.dtype == DType::f64 ? b.ptr<double>()[k] : b.ptr<float>()[k];
    s += x * y;
  }
  return s;
}

struct GradTolerance {
  double rtol = 1e-6;
  double atol = 1e-8;
  double step = 1e-5;
};

// Compares `analytic` (the gradient of loss() w.r.t. `input`) with central differences
// (loss(x + h) - loss(x - h)) / 2h for every element of `input`; loss() must read `input` afresh each call.
inline void check_gradient(const std::string& what, const HostTensor& input, const HostTensor& analytic,
                           const std::function<double()>& loss, GradTolerance tol = {}) {
  REQUIRE(input.numel() == analytic.numel());
  int failures = 0;
  for (std::int64_t k = 0; k < input.numel(); ++k) {
    const double x0 = input.get(k);
    input.set(k, x0 + tol.step);
    const double up = loss();
    input.set(k, x0 - tol.step);
    const double down = loss();
    input.set(k, x0);
    const double numeric = (up - down) / (2 * tol.step);
    const double a = analytic.get(k);
    if (!(std::fabs(a - numeric) <= tol.atol + tol.rtol * std::fabs(numeric)) && failures++ < 5) {
      UNSCOPED_INFO(what << "[" << k << "]: analytic " << a << " vs numeric " << numeric);
    }
  }
  INFO("gradient of " << what << " (" << input.numel() << " elements)");
  CHECK(failures == 0);
}

// Largest |a - b| over two equal-size float tensors.
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.numel() == b.numel());
  double m = 0;
  for (std::int64_t k = 0; k < a.numel(); ++k) {
    const double x = a.dtype == DType::f64 ? a.ptr<double>()[k] : a.ptr<float>()[k];
    const double y = b.dtype == DType::f64 ? b.ptr<double>()[k] : b.ptr<float>()[k];
    m = std::fmax(m, std::fabs(x - y));
  }
  return m;
}

// Largest |a - b| relative to the largest |b| (at least 1).
inline double rel_diff(const Tensor& a, const Tensor& b) {
  double scale = 1.0;
  for (std::int64_t k = 0; k < b.numel(); ++k)
    scale = std::fmax(scale, std::fabs(b.dtype == DType::f64 ? b.ptr<double>()[k] : b.ptr<float>()[k]));
  return max_abs_diff(a, b) / scale;
}

}  // namespace mhc::test
