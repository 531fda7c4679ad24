// ActivationContext: one exactly-sized activations arena carved by a layout table, plus views of other contexts.
#include "model/activations.hpp"

#include <algorithm>

namespace mhc::model {

namespace {

bool named(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::vector<std::string> view_names(const TensorViews& views) {
  std::vector<std::string> names;
  for (const auto& [name, view] : views) names.push_back(name);
  return names;
}

}  // namespace

ActivationContext::ActivationContext(const std::string& name, const std::vector<TensorSpec>& specs,
                                     const TensorViews& views, Device device)
    : arena_(name, ArenaKind::activations, device, Arena::bytes_needed(specs_without(specs, view_names(views)))) {
  for (const auto& s : specs) {
    MHC_CHECK(tensors_.count(s.name) == 0, ShapeError, "activation context ", name, ": duplicate entry ", s.name);
    const auto view = views.find(s.name);
    if (view == views.end()) {
      tensors_[s.name] = arena_.alloc(s.dtype, s.shape, s.name);
      continue;
    }
    MHC_CHECK(view->second.shape == s.shape && view->second.dtype == s.dtype, ShapeError, "activation context ", name,
              ": view ", s.name, " is ", view->second.describe(), ", the layout wants ", dtype_name(s.dtype), " ",
              s.shape.str());
    tensors_[s.name] = view->second;
  }
  for (const auto& [view_name, view] : views)
    MHC_CHECK(tensors_.count(view_name) == 1, ShapeError, "activation context ", name, ": view ", view_name,
              " is not in the layout");
}

std::vector<std::string> ContextLayout::names(EntryRole role) const {
  std::vector<std::string> out;
  for (std::size_t k = 0; k < specs.size() && k < roles.size(); ++k)
    if (roles[k] == role) out.push_back(specs[k].name);
  return out;
}

ActivationContext::ActivationContext(const std::string& name, const ContextLayout& layout, const TensorViews& views,
                                     Device device)
    : ActivationContext(name, layout.specs, views, device) {
  if (layout.bind) state_ = layout.bind(*this);
}

void ActivationContext::throw_no_state() const {
  throw ShapeError(detail::concat("activation context ", arena_.name(), " holds no state of the type asked for"));
}

Tensor ActivationContext::operator[](const std::string& name) const {
  const auto it = tensors_.find(name);
  MHC_CHECK(it != tensors_.end(), ShapeError, "activation context ", arena_.name(), " has no tensor ", name);
  return it->second;
}

std::vector<TensorSpec> specs_without(const std::vector<TensorSpec>& specs, const std::vector<std::string>& names) {
  std::vector<TensorSpec> kept;
  for (const auto& s : specs)
    if (!named(names, s.name)) kept.push_back(s);
  return kept;
}

std::vector<TensorSpec> specs_named(const std::vector<TensorSpec>& specs, const std::vector<std::string>& names) {
  std::vector<TensorSpec> kept;
  for (const auto& s : specs)
    if (named(names, s.name)) kept.push_back(s);
  return kept;
}

}  // namespace mhc::model
