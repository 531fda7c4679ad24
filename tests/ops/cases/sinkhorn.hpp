// The Sinkhorn op case of the harness (support/op_harness.hpp).
#pragma once

#include <string>

#include "ops/sinkhorn.hpp"
#include "support/mhc_inputs.hpp"
#include "support/op_harness.hpp"

namespace mhc::test {

// logits (N, n, n) -> h (N, n, n) after `iters` iterations; dlogits overwritten. identity: the logits of the identity
// bias init (6 I - 3) plus N(0, scale^2) noise; else N(0, scale^2) logits.
inline OpCase sinkhorn_case(std::int64_t N, std::int64_t n, int iters, bool identity, double scale) {
  OpCase c;
  c.op = "sinkhorn N " + std::to_string(N) + " n " + std::to_string(n) + " iters " + std::to_string(iters) +
         (identity ? " identity" : " random");
  OpTensor logits("logits", Shape{N, n, n}, scale);
  if (identity) logits.adjust = [n](const HostTensor& l) { add_identity_offset(l, n); };
  c.inputs = {logits};
  c.outputs = {{"h", Shape{N, n, n}}};
  c.loss_outputs = {"h"};
  c.differentiable = {"logits"};
  c.forward = [iters](const OpTensors& t) { ops::sinkhorn_forward(t["h"], t["logits"], iters); };
  c.backward = [iters](const OpTensors& t) { ops::sinkhorn_backward(t["dlogits"], t["dh"], t["logits"], iters); };
  return c;
}

}  // namespace mhc::test
