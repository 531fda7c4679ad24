// Bf16Staging: f32 copies of an op's bf16 operands and the rounding of its bf16 results.
#include "ops/bf16_staging.hpp"

#include "ops/cpu/elementwise_cpu.hpp"

namespace mhc::ops {

Tensor Bf16Staging::widened(Tensor t, bool copy_values) {
  if (t.dtype != DType::bf16 || !t.defined()) return t;
  MHC_CHECK(t.device == Device::cpu, DeviceError, op_, ": got a bf16 cuda tensor (", t.describe(),
            "); the CUDA backend has no bf16 kernels yet (train.precision \"bf16\" runs on the CPU)");
  scratch_.emplace_back(DType::f32, t.shape);
  const Tensor wide = scratch_.back().view();
  if (copy_values) cpu::widen_bf16(wide.ptr<float>(), t.ptr<bf16_t>(), t.numel());
  return wide;
}

Tensor Bf16Staging::input(Tensor t) { return widened(t, true); }

Tensor Bf16Staging::output(Tensor t, bool reads_old_values) {
  const Tensor wide = widened(t, reads_old_values);
  if (wide.data != t.data) outputs_.emplace_back(t, wide);
  return wide;
}

void Bf16Staging::finish() {
  for (const auto& [dst, wide] : outputs_) cpu::narrow_to_bf16(dst.ptr<bf16_t>(), wide.ptr<float>(), dst.numel());
  outputs_.clear();
}

}  // namespace mhc::ops
