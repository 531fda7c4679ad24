// ParameterStore: arena layout by name and per-name deterministic init (spec section 1 and 2.2-2.3).
#include "model/parameters.hpp"

#include <algorithm>
#include <cmath>

#include "core/copy.hpp"
#include "core/host_tensor.hpp"
#include "core/rng.hpp"
#include "model/connection_kind.hpp"
#include "ops/elementwise.hpp"

namespace mhc::model {

namespace {

std::vector<TensorSpec> arena_layout(const std::vector<ParamSpec>& specs, DType dtype) {
  std::vector<TensorSpec> layout;
  layout.reserve(specs.size());
  for (const auto& s : specs) layout.push_back(TensorSpec{s.name, dtype, s.shape});
  return layout;
}

std::vector<TensorSpec> bf16_copy_layout(const std::vector<ParamSpec>& specs, const config::Config& cfg, DType dtype) {
  std::vector<TensorSpec> layout;
  for (const auto& s : specs)
    if (ParameterStore::has_bf16_copy(s, cfg, dtype)) layout.push_back(TensorSpec{s.name, DType::bf16, s.shape});
  return layout;
}

}  // namespace

std::int64_t ParameterStore::arena_bytes(const std::vector<ParamSpec>& specs, DType dtype) {
  return Arena::bytes_needed(arena_layout(specs, dtype));
}

bool ParameterStore::has_bf16_copy(const ParamSpec& spec, const config::Config& cfg, DType dtype) {
  return narrow_dtype(cfg.train.precision, dtype) == DType::bf16 &&
         (spec.component == Component::attention || spec.component == Component::mlp) && spec.shape.rank == 2;
}

std::int64_t ParameterStore::bf16_copy_arena_bytes(const std::vector<ParamSpec>& specs, const config::Config& cfg,
                                                   DType dtype) {
  return Arena::bytes_needed(bf16_copy_layout(specs, cfg, dtype));
}

ParameterStore::ParameterStore(std::vector<ParamSpec> specs, const config::Config& cfg, DType dtype,
                               std::uint64_t seed, Device device)
    : specs_(std::move(specs)), dtype_(dtype) {
  MHC_CHECK(dtype == DType::f32 || dtype == DType::f64, ConfigError, "ParameterStore: dtype ", dtype_name(dtype),
            " is not f32 or f64");
  MHC_CHECK(device == Device::cpu || dtype == DType::f32, ConfigError, "ParameterStore: the CUDA backend holds f32 "
            "parameters, got ", dtype_name(dtype));
  const std::int64_t bytes = arena_bytes(specs_, dtype);
  params_arena_ = Arena("parameters", ArenaKind::parameters, device, bytes);
  grads_arena_ = Arena("gradients", ArenaKind::gradients, device, bytes);
  for (const auto& s : specs_) {
    MHC_CHECK(params_.count(s.name) == 0, ConfigError, "ParameterStore: duplicate parameter name ", s.name);
    params_[s.name] = params_arena_.alloc(dtype, s.shape, s.name);
    grads_[s.name] = grads_arena_.alloc(dtype, s.shape, s.name);
  }
  const std::vector<TensorSpec> copies = bf16_copy_layout(specs_, cfg, dtype);
  copies_arena_ = Arena("bf16 weight copies", ArenaKind::parameters, device, Arena::bytes_needed(copies));
  for (const auto& c : copies) copies_[c.name] = copies_arena_.alloc(c.dtype, c.shape, c.name);
  if (device == Device::cpu) {
    for (const auto& s : specs_) init_parameter(s, params_.at(s.name), cfg, seed);
    return;
  }
  // The initialisers are CPU ops: each tensor is drawn on the host, then uploaded.
  Arena host("parameters (host init)", ArenaKind::scratch, Device::cpu, bytes);
  for (const auto& s : specs_) {
    const Tensor t = host.alloc(dtype, s.shape, s.name);
    init_parameter(s, t, cfg, seed);
    copy_tensor(params_.at(s.name), t);
  }
}

Tensor ParameterStore::param(const std::string& name) const {
  const auto it = params_.find(name);
  MHC_CHECK(it != params_.end(), ConfigError, "ParameterStore: no parameter named ", name);
  return it->second;
}

Tensor ParameterStore::grad(const std::string& name) const {
  const auto it = grads_.find(name);
  MHC_CHECK(it != grads_.end(), ConfigError, "ParameterStore: no gradient named ", name);
  return it->second;
}

Tensor ParameterStore::matmul_operand(const std::string& name) const {
  const auto it = copies_.find(name);
  return it != copies_.end() ? it->second : param(name);
}

void refresh_operand(const Param& p) {
  if (p.operand.data != p.value.data) ops::convert_dtype(p.operand, p.value);
}

// Each tensor is initialised on its own: the connection kinds initialise a group (mHC phi/alpha/bias, the HC
// statics) with scratch tensors for the other members, so the result depends only on (seed, name, config).
void ParameterStore::init_parameter(const ParamSpec& spec, Tensor t, const config::Config& cfg, std::uint64_t seed) {
  switch (spec.init) {
    case InitKind::normal: fill_normal(t, seed, spec.name, 0.0, spec.init_std); return;
    case InitKind::ones: fill_constant(t, 1.0); return;
    case InitKind::zeros: fill_constant(t, 0.0); return;
    case InitKind::connection: cfg.residual.type->init_parameter(spec, t, cfg, seed); return;
    case InitKind::gate_phi:
      if (cfg.residual.phi_init == ops::MhcInit::Phi::xavier) {
        const double a = std::sqrt(6.0 / static_cast<double>(t.dim(0) + t.dim(1)));
        fill_uniform(t, seed, spec.name, -a, a);
      } else {
        fill_constant(t, 0.0);
      }
      return;
    case InitKind::gate_alpha: fill_constant(t, cfg.residual.alpha_init); return;
  }
}

void set_initial_value(Tensor t, Tensor value, const std::string& name) {
  MHC_CHECK(value.shape == t.shape && value.dtype == t.dtype, ShapeError, "ParameterStore: ", name, " is ",
            t.describe(), ", its initial value ", value.describe());
  std::copy_n(static_cast<const std::byte*>(value.data), t.bytes(), static_cast<std::byte*>(t.data));
}

std::vector<ParamSpec> block_parameter_specs(const std::vector<ParamSpec>& all, std::int64_t first,
                                             std::int64_t last) {
  std::vector<ParamSpec> out;
  for (const auto& s : all)
    if (s.block >= first && s.block < last) out.push_back(s);
  return out;
}

}  // namespace mhc::model
