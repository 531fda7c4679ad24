// ActivationContext: the saved activations and backward buffers of one component for one micro-batch, laid out by
// the component's state table and bound once to the component's typed state struct.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/arena.hpp"

namespace mhc::model {

// Named tensors owned by other contexts (selective recomputation shares state between layers this way).
using TensorViews = std::map<std::string, Tensor>;

// The base of every component's typed state: a struct of Tensor members, one per entry of its state table.
// Components derive theirs from a shared base where code common to several reads the shared entries (e.g.
// StreamState for the n-stream connections).
struct ContextState {
  virtual ~ContextState() = default;
};

// What an entry is to the code that shares contexts between layers (selective recomputation).
enum class EntryRole : std::uint8_t {
  kept,       // saved by the forward or kept by B for W
  transient,  // written and read by backward_input alone (free again once it returns)
  input,      // F's input entries: u and what its forward derives from u alone (rebuilt by rebuild_input)
};

// One entry of a component's state table: its name in the context (messages, views), the member of S it binds
// to, its dtype and shape.
template <class S>
struct StateField {
  const char* name;
  Tensor S::*member;
  DType dtype;
  Shape shape;
  EntryRole role = EntryRole::kept;
};
// A component's state, declared once: it generates the context's layout (and so plan's accounting) and the binding
// of the typed struct.
template <class S>
using StateTable = std::vector<StateField<S>>;

class ActivationContext;

// A state table with its struct type erased: the layout specs with their roles, and how to bind a context's tensors
// to a new state.
struct ContextLayout {
  std::vector<TensorSpec> specs;
  std::vector<EntryRole> roles;  // one per spec
  std::function<std::shared_ptr<const ContextState>(const ActivationContext&)> bind;  // null: untyped context

  // The names of the entries of `role`, in order.
  std::vector<std::string> names(EntryRole role) const;
};

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
  // The same laid out by a state table, whose struct is bound to the tensors once, here (state<S>()).
  ActivationContext(const std::string& name, const ContextLayout& layout, const TensorViews& views = {},
                    Device device = Device::cpu);

  // The typed state bound at construction, as S or as a base of it; ShapeError naming the context when it holds
  // none of that type. Ops read its members: no name is looked up per call.
  template <class S>
  const S& state() const {
    const S* s = dynamic_cast<const S*>(state_.get());
    if (s == nullptr) throw_no_state();
    return *s;
  }
  // The tensor of `name` (wiring at construction, tests); throws ShapeError naming the context and the name when
  // the layout has no such entry.
  Tensor operator[](const std::string& name) const;
  // Every tensor by name, to hand to other contexts as views (valid while this context lives).
  const TensorViews& tensors() const { return tensors_; }
  // Bytes held by this context (its own arena's capacity, alignment padding included; views count 0).
  std::int64_t bytes_held() const { return arena_.capacity(); }
  const std::string& name() const { return arena_.name(); }

 private:
  [[noreturn]] void throw_no_state() const;

  Arena arena_;
  TensorViews tensors_;
  std::shared_ptr<const ContextState> state_;
};

// The layout specs of a state table, in its order.
template <class S>
std::vector<TensorSpec> specs_of(const StateTable<S>& table) {
  std::vector<TensorSpec> specs;
  for (const auto& f : table) specs.push_back({f.name, f.dtype, f.shape});
  return specs;
}
// The table with its struct type erased (binding copies the table).
template <class S>
ContextLayout layout_of(const StateTable<S>& table) {
  const auto bind = [table](const ActivationContext& ctx) -> std::shared_ptr<const ContextState> {
    auto s = std::make_shared<S>();
    for (const auto& f : table) (*s).*f.member = ctx[f.name];
    return s;
  };
  ContextLayout layout{specs_of(table), {}, bind};
  for (const auto& f : table) layout.roles.push_back(f.role);
  return layout;
}
// A name and the member of S it binds to.
template <class S>
struct StateEntry {
  const char* name;
  Tensor S::*member;
};
// Appends one entry of `dtype`, `shape` and `role` per (name, member) to table.
template <class S>
void add_fields(StateTable<S>& table, DType dtype, const Shape& shape, std::initializer_list<StateEntry<S>> entries,
                EntryRole role = EntryRole::kept) {
  for (const auto& e : entries) table.push_back({e.name, e.member, dtype, shape, role});
}
// A derived state's table starting with its base's entries (members of Base are members of Derived).
template <class Derived, class Base>
StateTable<Derived> extend_table(const StateTable<Base>& base) {
  StateTable<Derived> table;
  for (const auto& f : base)
    table.push_back({f.name, static_cast<Tensor Derived::*>(f.member), f.dtype, f.shape, f.role});
  return table;
}

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
