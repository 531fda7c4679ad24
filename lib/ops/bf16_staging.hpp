// The CPU's bf16 emulation for one op call: bf16 operands widened to f32 copies, bf16 results narrowed back.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/host_tensor.hpp"

namespace mhc::ops {

// An op entry point that takes bf16 tensors passes each through input() or output() and then runs its f32 code on
// the views these return; finish() rounds the f32 results into the bf16 outputs (to nearest, ties to even). A CPU
// op so computes exactly what a kernel that loads bf16, computes in f32 and stores bf16 computes, up to summation
// order. Tensors of another dtype (and undefined ones) pass through untouched, so an all-f32 or all-f64 call costs
// nothing. bf16 on the GPU is a DeviceError naming the op: the CUDA bf16 kernels are not written yet.
class Bf16Staging {
 public:
  explicit Bf16Staging(const char* op) : op_(op) {}

  // t, or an f32 copy of it when t is bf16.
  Tensor input(Tensor t);
  // t, or an f32 scratch of its shape that finish() rounds into t when t is bf16; the scratch starts as a copy of
  // t when the op reads t's old values (accumulates into it), else zero. A tensor passed to input() and output()
  // (an op in place) gets two scratches: the op must then support distinct in and out (every staged op does).
  Tensor output(Tensor t, bool reads_old_values = false);
  // Rounds every output scratch into its bf16 tensor. Call once, after the op's computation succeeded.
  void finish();

 private:
  Tensor widened(Tensor t, bool copy_values);

  const char* op_;
  std::vector<HostTensor> scratch_;
  std::vector<std::pair<Tensor, Tensor>> outputs_;  // (bf16 destination, its f32 scratch)
};

}  // namespace mhc::ops
