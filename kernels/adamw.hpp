// AdamW step on the GPU, fp32 parameters and moments with the element math in double; the CPU oracle is
// ops::cpu::adamw_step.
#pragma once

#include <cstdint>

#include "core/stream.hpp"
#include "ops/cpu/adamw_cpu.hpp"

namespace mhc::kernels {

// In place on param, m, v (n each; grad read only), with the scalars of ops::adamw_step:
//   m = beta1 m + (1 - beta1) g,  v = beta2 v + (1 - beta2) g^2,
//   param = decay * param - step_size * m / (sqrt(v) * inv_sqrt_bc2 + eps),
// every operation rounded like the CPU's (no FMA contraction). Asynchronous on `stream`.
void launch_adamw_step(float* param, const float* grad, float* m, float* v, std::int64_t n,
                       const ops::cpu::AdamWScalars& s, StreamHandle stream);

}  // namespace mhc::kernels
