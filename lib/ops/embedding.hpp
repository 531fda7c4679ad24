// Token embedding lookup and its weight gradient (deterministic scatter-add).
// Float tensors f32 or f64 on the CPU, or f32 on CUDA; ids live on the same device as the table. On CUDA the entry
// points validate the ids through a host copy, which synchronizes the current stream.
#pragma once

#include "core/tensor.hpp"

namespace mhc::ops {

// out (N, C) = table (V, C)[ids (N) i32]. Every id must lie in [0, V) (ShapeError naming the id and V).
void embedding_forward(Tensor out, Tensor ids, Tensor table);

// W: dtable (V, C) += scatter of dout (N, C) by ids (N) i32 (accumulates). Rows are added sequentially in
// position order, so repeated ids give the same bits on every run (on CUDA too: no atomics, the CPU's bits).
void embedding_backward_weight(Tensor dtable, Tensor dout, Tensor ids);

}  // namespace mhc::ops
