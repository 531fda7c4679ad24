// Checked entry point of the AdamW step; dispatch to the CPU oracle or the CUDA kernel.
#include "ops/adamw.hpp"

#include <cmath>
#include <utility>

#include "kernels/adamw.hpp"
#include "ops/cpu/adamw_cpu.hpp"
#include "ops/device_dispatch.hpp"
#include "ops/dispatch.hpp"

namespace mhc::ops {

void adamw_step(Tensor param, Tensor grad, Tensor m, Tensor v, const AdamWParams& p) {
  expect_float(param, "adamw param");
  for (const auto& [t, name] : {std::pair{grad, "adamw grad"}, {m, "adamw m"}, {v, "adamw v"}}) {
    expect_shape(t, param.shape, name);
    expect_float(t, name);
    expect_same_dtype(t, param, name, "param");
    expect_device(t, param.device, name);
  }
  MHC_CHECK(p.step >= 1, ConfigError, "step is 1-based, got ", p.step);
  MHC_CHECK(p.beta1 >= 0 && p.beta1 < 1, ConfigError, "beta1 must be in [0, 1), got ", p.beta1);
  MHC_CHECK(p.beta2 >= 0 && p.beta2 < 1, ConfigError, "beta2 must be in [0, 1), got ", p.beta2);
  MHC_CHECK(p.lr >= 0 && p.eps >= 0 && p.weight_decay >= 0, ConfigError, "lr (", p.lr, "), eps (", p.eps,
            ") and weight_decay (", p.weight_decay, ") must be >= 0");
  const double step = static_cast<double>(p.step);
  cpu::AdamWScalars s;
  s.decay = 1.0 - p.lr * p.weight_decay;
  s.beta1 = p.beta1;
  s.beta2 = p.beta2;
  s.step_size = p.lr / (1.0 - std::pow(p.beta1, step));
  s.inv_sqrt_bc2 = 1.0 / std::sqrt(1.0 - std::pow(p.beta2, step));
  s.eps = p.eps;
  if (on_cuda(param, "adamw_step")) {
    kernels::launch_adamw_step(param.ptr<float>(), grad.ptr<float>(), m.ptr<float>(), v.ptr<float>(), param.numel(), s,
                               current_stream());
    return;
  }
  dispatch_cpu_float(param.dtype, "adamw_step", [&](auto zero) {
    using T = decltype(zero);
    cpu::adamw_step<T>(param.ptr<T>(), grad.ptr<T>(), m.ptr<T>(), v.ptr<T>(), param.numel(), s);
  });
}

}  // namespace mhc::ops
