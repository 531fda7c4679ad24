// AdamW optimizer step (decoupled weight decay, bias-corrected moments) on one parameter tensor.
#pragma once

#include <cstdint>

#include "core/tensor.hpp"

namespace mhc::ops {

struct AdamWParams {
  double lr = 0;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0;
  std::int64_t step = 1;  // 1-based number of this step (bias correction 1 - beta^step)
};

// In place on param, m, v (any shape, all equal to grad's; same dtype and device: f32 params keep f32 state, f64
// keep f64; CUDA takes f32):
//   param -= lr * weight_decay * param                      (decoupled decay, before the Adam update)
//   m = beta1 m + (1 - beta1) grad,  v = beta2 v + (1 - beta2) grad^2
//   param -= lr * (m / (1 - beta1^step)) / (sqrt(v / (1 - beta2^step)) + eps)
// (the PyTorch AdamW update). Element math in double, on the GPU too (the same rounded operations). grad is read
// only. Out-of-range hyperparameters (step < 1, betas outside [0, 1), negative lr, eps or weight_decay) throw
// ConfigError.
void adamw_step(Tensor param, Tensor grad, Tensor m, Tensor v, const AdamWParams& p);

}  // namespace mhc::ops
