// ActivationContext: one exactly-sized activations arena carved by a layout table.
#include "model/activations.hpp"

namespace mhc::model {

ActivationContext::ActivationContext(const std::string& name, const std::vector<TensorSpec>& specs, Device device)
    : arena_(name, ArenaKind::activations, device, Arena::bytes_needed(specs)) {
  for (const auto& s : specs) {
    MHC_CHECK(tensors_.count(s.name) == 0, ShapeError, "activation context ", name, ": duplicate entry ", s.name);
    tensors_[s.name] = arena_.alloc(s.dtype, s.shape, s.name);
  }
}

ActivationContext ActivationContext::alias() const {
  ActivationContext view;
  view.tensors_ = tensors_;
  return view;
}

Tensor ActivationContext::operator[](const std::string& name) const {
  const auto it = tensors_.find(name);
  MHC_CHECK(it != tensors_.end(), ShapeError, "activation context ", arena_.name(), " has no tensor ", name);
  return it->second;
}

}  // namespace mhc::model
