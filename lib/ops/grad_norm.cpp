// Checked entry points of the gradient norm and in-place scaling; dispatch to the CPU oracle or the CUDA kernels.
#include "ops/grad_norm.hpp"

#include <string>

#include "kernels/grad_norm.hpp"
#include "ops/cpu/grad_norm_cpu.hpp"
#include "ops/device_dispatch.hpp"
#include "ops/dispatch.hpp"

namespace mhc::ops {

double grad_norm_squared(const std::vector<Tensor>& grads) {
  std::vector<double> sums(grads.size(), 0.0);
  std::vector<std::size_t> on_gpu;  // indices of the CUDA tensors, summed together with one stream sync
  std::vector<const float*> gpu_data;
  std::vector<std::int64_t> gpu_sizes;
  for (std::size_t i = 0; i < grads.size(); ++i) {
    const Tensor& g = grads[i];
    const std::string what = "grad_norm_squared grads[" + std::to_string(i) + "]";
    expect_float(g, what.c_str());
    if (on_cuda(g, what.c_str())) {
      on_gpu.push_back(i);
      gpu_data.push_back(g.ptr<float>());
      gpu_sizes.push_back(g.numel());
      continue;
    }
    dispatch_cpu_float(g.dtype, "grad_norm_squared", [&](auto zero) {
      using T = decltype(zero);
      sums[i] = cpu::sum_squares<T>(g.ptr<T>(), g.numel());
    });
  }
  if (!on_gpu.empty()) {
    const std::vector<double> gpu_sums = kernels::sum_squares_each(gpu_data, gpu_sizes, current_stream());
    for (std::size_t k = 0; k < on_gpu.size(); ++k) sums[on_gpu[k]] = gpu_sums[k];
  }
  double total = 0;
  for (const double s : sums) total += s;  // tensor order, as documented
  return total;
}

void scale_inplace(Tensor t, double s) {
  expect_float(t, "scale_inplace t");
  if (on_cuda(t, "scale_inplace")) {
    kernels::launch_scale_inplace(t.ptr<float>(), static_cast<float>(s), t.numel(), current_stream());
    return;
  }
  dispatch_cpu_float(t.dtype, "scale_inplace", [&](auto zero) {
    using T = decltype(zero);
    cpu::scale_inplace<T>(t.ptr<T>(), static_cast<T>(s), t.numel());
  });
}

}  // namespace mhc::ops
