// Recompute: selective recomputation (spec 5) for one model or pipeline-stage slot - which state each layer keeps,
// the arenas the layers of a block share, and the rebuild of a block's state when the backward enters it.
#pragma once

#include <cstdint>
#include <vector>

#include "config/config.hpp"
#include "model/activations.hpp"
#include "model/residual_layer.hpp"

namespace mhc::model {

// Selective recomputation is on for cfg: recompute.mhc with an n-stream connection kind (keeps_streams; residual
// keeps no connection state to recompute).
bool recompute_on(const config::Config& cfg);
// L_r for a stage of `layers` residual layers: "auto" = round(sqrt(n L / (n + 2))) (spec 5's minimum), "stage" = L,
// k = min(k, L) (L = 1 when the stage has none).
std::int64_t recompute_block_layers(const config::Config& cfg, std::int64_t layers);
// The number of recompute blocks of L_r layers that cover `layers`.
std::int64_t recompute_block_count(std::int64_t layers, std::int64_t block_layers);

// Block b holds the stage's layers [b L_r, (b + 1) L_r). Every connection keeps its full state only while its block
// is resident: block position j of every block shares one connection state and one F input, every layer shares the
// transient backward buffers, and a store keeps each block's input x and each layer's F output y, from which the
// rest is rebuilt (bitwise: the same ops on the same inputs).
class Recompute {
 public:
  // For `layers` (a stage's residual layers, in order, at least one) on micro-batches of `batch` sequences, with
  // arenas of `dtype` on `device`.
  Recompute(const config::Config& cfg, const std::vector<ResidualLayer>& layers, DType dtype, Device device,
            std::int64_t batch);

  // The contexts the layers run in: views of the shared arenas and the store (valid while this object lives), F's
  // own entries owned by each. The backward starts in the last block, so its layers keep x from the forward.
  std::vector<LayerContext> layer_contexts(const std::vector<ResidualLayer>& layers, std::int64_t batch) const;

  std::int64_t block_layers() const { return block_layers_; }
  std::int64_t block_of(std::size_t layer) const { return static_cast<std::int64_t>(layer) / block_layers_; }
  // Layer `layer` of `count` is the first of its block whose backward runs (the block's last, or the stage's last
  // layer): the block's state must be rebuilt first, after the W of the later blocks (they share the arenas).
  bool enters_block(std::size_t layer, std::size_t count) const {
    return static_cast<std::int64_t>(layer % static_cast<std::size_t>(block_layers_)) == block_layers_ - 1 ||
           layer + 1 == count;
  }
  // After a forward the last block's state is resident (its layers kept theirs).
  void forward_done(std::size_t count) {
    resident_ = recompute_block_count(static_cast<std::int64_t>(count), block_layers_) - 1;
  }
  // Rebuilds the connection state and F inputs of block b's layers from the stored block input and F outputs
  // (nothing to do when b is resident); afterwards the last forward can no longer be backpropagated through the
  // block that was resident before.
  void rebuild(std::int64_t b, std::vector<ResidualLayer>& layers, const std::vector<LayerContext>& contexts);

  // Bytes of the shared arenas and the store (each layer's own part is in its context).
  std::int64_t bytes_held() const;
  // Everything the layers of a stage of `layers` residual layers hold with recomputation on: their contexts, the
  // shared arenas and the store (the `plan` prediction; docs/math.md "Selective recomputation").
  static std::int64_t predicted_bytes(const config::Config& cfg, DType dtype, std::int64_t batch,
                                      std::int64_t layers);

 private:
  std::int64_t block_layers_;
  std::vector<ActivationContext> shared_;  // per block position connection state, F input; transient
  ActivationContext saved_;                // "x_block.<b>" (N, n, C) and "y.<l>" (N, C)
  std::int64_t resident_ = -1;             // the block whose state the shared contexts hold
};

}  // namespace mhc::model
