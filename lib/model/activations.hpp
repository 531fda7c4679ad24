// ActivationContext: the saved activations and backward buffers of one component for one micro-batch, by name.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "core/arena.hpp"

namespace mhc::model {

// Named tensors owned by other contexts (selective recomputation shares state between layers this way).
using TensorViews = std::map<std::string, Tensor>;

// One activations arena sized exactly for a layout table and carved by name at construction (zero-filled).
// Components declare their table (e.g. AttentionSublayer::activation_specs) so the bytes a micro-batch in flight
// holds are known before anything runs.
class ActivationContext {
 public:
  ActivationContext() = default;
  // The layout `specs`; an entry named in `views` is that view (same shape and dtype, else ShapeError naming the
  // context and the entry), the others are carved from this context's own arena. A view the layout does not name is
  // a ShapeError too.
  ActivationContext(const std::string& name, const std::vector<TensorSpec>& specs, const TensorViews& views = {},
                    Device device = Device::cpu);

  // The tensor of `name`; throws ShapeError naming the context and the name when the layout has no such entry.
  Tensor operator[](const std::string& name) const;
  // Every tensor by name, to hand to other contexts as views (valid while this context lives).
  const TensorViews& tensors() const { return tensors_; }
  // Bytes held by this context (its own arena's capacity, alignment padding included; views count 0).
  std::int64_t bytes_held() const { return arena_.capacity(); }
  const std::string& name() const { return arena_.name(); }

 private:
  Arena arena_;
  TensorViews tensors_;
};

// Appends one entry of `dtype` and `shape` per name to specs.
void append_specs(std::vector<TensorSpec>& specs, DType dtype, Shape shape, std::initializer_list<const char*> names);
// The entries of `specs` whose names are not in `names`, in order.
std::vector<TensorSpec> specs_without(const std::vector<TensorSpec>& specs, const std::vector<std::string>& names);
// The entries of `specs` whose names are in `names`, in order.
std::vector<TensorSpec> specs_named(const std::vector<TensorSpec>& specs, const std::vector<std::string>& names);

// Everything one residual layer keeps for one micro-batch: the connection's tensors and its sublayer F's.
struct LayerContext {
  ActivationContext connection;
  ActivationContext sublayer;
  // false: the connection's forward does not save its input x in `connection` (selective recomputation rebuilds it
  // before the backward).
  bool saves_input = true;
  std::int64_t bytes_held() const { return connection.bytes_held() + sublayer.bytes_held(); }
};

}  // namespace mhc::model
