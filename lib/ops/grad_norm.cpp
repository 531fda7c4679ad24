// Checked entry points of the gradient norm and in-place scaling.
#include "ops/grad_norm.hpp"

#include <string>

#include "ops/cpu/grad_norm_cpu.hpp"
#include "ops/dispatch.hpp"

namespace mhc::ops {

double grad_norm_squared(const std::vector<Tensor>& grads) {
  double total = 0;
  for (std::size_t i = 0; i < grads.size(); ++i) {
    const Tensor& g = grads[i];
    expect_cpu_float(g, ("grad_norm_squared grads[" + std::to_string(i) + "]").c_str());
    dispatch_cpu_float(g.dtype, "grad_norm_squared", [&](auto zero) {
      using T = decltype(zero);
      total += cpu::sum_squares<T>(g.ptr<T>(), g.numel());
    });
  }
  return total;
}

void scale_inplace(Tensor t, double s) {
  expect_cpu_float(t, "scale_inplace t");
  dispatch_cpu_float(t.dtype, "scale_inplace", [&](auto zero) {
    using T = decltype(zero);
    cpu::scale_inplace<T>(t.ptr<T>(), static_cast<T>(s), t.numel());
  });
}

}  // namespace mhc::ops
