// AdamW state allocation and the per-parameter update.
#include "train/optimizer.hpp"

#include <vector>

#include "ops/adamw.hpp"

namespace mhc::train {

namespace {
std::vector<TensorSpec> moment_specs(const std::vector<model::ParamSpec>& params, DType dtype) {
  std::vector<TensorSpec> specs;
  for (const auto& s : params) {
    specs.push_back({"m." + s.name, dtype, s.shape});
    specs.push_back({"v." + s.name, dtype, s.shape});
  }
  return specs;
}
}  // namespace

std::int64_t AdamW::state_bytes_for(const std::vector<model::ParamSpec>& specs, DType dtype) {
  return Arena::bytes_needed(moment_specs(specs, dtype));
}

AdamW::AdamW(const model::ParameterStore& store)
    : arena_("adamw moments", ArenaKind::optimizer_state, store.device(),
             state_bytes_for(store.specs(), store.dtype())) {
  for (const auto& s : store.specs()) {
    m_[s.name] = arena_.alloc(store.dtype(), s.shape, "m." + s.name);
    v_[s.name] = arena_.alloc(store.dtype(), s.shape, "v." + s.name);
  }
}

void AdamW::step(const model::ParameterStore& store, double lr, const config::TrainConfig& t) {
  ++updates_;
  for (const auto& s : store.specs()) {
    const ops::AdamWParams p{lr, t.beta1, t.beta2, t.eps, s.weight_decay ? t.weight_decay : 0.0, updates_};
    ops::adamw_step(store.param(s.name), store.grad(s.name), m_.at(s.name), v_.at(s.name), p);
  }
}

std::map<std::string, Tensor> AdamW::state_tensors() const {
  std::map<std::string, Tensor> out;
  for (const auto& [name, t] : m_) out["m." + name] = t;
  for (const auto& [name, t] : v_) out["v." + name] = t;
  return out;
}

}  // namespace mhc::train
