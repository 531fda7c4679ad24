// ActivationContext: the saved activations and backward buffers of one component for one micro-batch, by name.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/arena.hpp"

namespace mhc::model {

// One activations arena sized exactly for a layout table and carved by name at construction (zero-filled).
// Components declare their table (e.g. AttentionSublayer::activation_specs) so the bytes a micro-batch in flight
// holds are known before anything runs.
class ActivationContext {
 public:
  ActivationContext() = default;
  ActivationContext(const std::string& name, const std::vector<TensorSpec>& specs, Device device = Device::cpu);

  // The tensor of `name`; throws ShapeError naming the context and the name when the layout has no such entry.
  Tensor operator[](const std::string& name) const;
  // A non-owning view of the same tensors (bytes_held 0): one context shared by several layers in turn (the
  // transient connection state of selective recomputation). Valid while this context lives.
  ActivationContext alias() const;
  // Bytes held by this context (the arena capacity, alignment padding included; 0 for an alias).
  std::int64_t bytes_held() const { return arena_.capacity(); }
  const std::string& name() const { return arena_.name(); }

 private:
  Arena arena_;
  std::map<std::string, Tensor> tensors_;
};

// Everything one residual layer keeps for one micro-batch: the connection's tensors and its sublayer F's.
struct LayerContext {
  ActivationContext connection;
  ActivationContext sublayer;
  std::int64_t bytes_held() const { return connection.bytes_held() + sublayer.bytes_held(); }
};

}  // namespace mhc::model
