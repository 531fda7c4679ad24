// ParameterStore: arena layout by name and per-name deterministic init (spec section 1 and 2.2-2.3).
#include "model/parameters.hpp"

#include <algorithm>
#include <cmath>

#include "core/copy.hpp"
#include "core/host_tensor.hpp"
#include "core/rng.hpp"
#include "ops/hc_coeffs.hpp"
#include "ops/mhc_coeffs.hpp"

namespace mhc::model {

namespace {

std::vector<TensorSpec> arena_layout(const std::vector<ParamSpec>& specs, DType dtype) {
  std::vector<TensorSpec> layout;
  layout.reserve(specs.size());
  for (const auto& s : specs) layout.push_back(TensorSpec{s.name, dtype, s.shape});
  return layout;
}

// "blocks.3.attn.conn.phi" -> "blocks.3.attn.conn"
std::string parent_name(const std::string& name) { return name.substr(0, name.rfind('.')); }

ops::MhcInit mhc_init_of(const config::Config& cfg) {
  ops::MhcInit init;
  init.n = static_cast<int>(cfg.residual.n_streams);
  init.alpha_init = cfg.residual.alpha_init;
  init.bias = cfg.residual.bias_init;
  init.phi = cfg.residual.phi_init;
  return init;
}

}  // namespace

std::int64_t ParameterStore::arena_bytes(const std::vector<ParamSpec>& specs, DType dtype) {
  return Arena::bytes_needed(arena_layout(specs, dtype));
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

// Each tensor is initialised on its own: the ops that initialise a group (mHC phi/alpha/bias, the HC statics) are
// called with scratch tensors for the other members, so the result depends only on (seed, name, config).
void ParameterStore::init_parameter(const ParamSpec& spec, Tensor t, const config::Config& cfg, std::uint64_t seed) {
  const std::int64_t n = cfg.residual.n_streams, C = cfg.model.d_model, K = n * n + 2 * n;
  const std::string prefix = parent_name(spec.name);
  switch (spec.init) {
    case InitKind::normal: fill_normal(t, seed, spec.name, 0.0, spec.init_std); return;
    case InitKind::ones: fill_constant(t, 1.0); return;
    case InitKind::zeros: fill_constant(t, 0.0); return;
    case InitKind::mhc_phi:
    case InitKind::mhc_alpha:
    case InitKind::mhc_bias: {
      const ops::MhcInit init = mhc_init_of(cfg);
      if (spec.layer < 0) {  // the gate of head_merge (not a residual layer): Xavier phi / alpha_init
        if (spec.init == InitKind::mhc_phi && init.phi == ops::MhcInit::Phi::xavier) {
          const double a = std::sqrt(6.0 / static_cast<double>(t.dim(0) + t.dim(1)));
          fill_uniform(t, seed, spec.name, -a, a);
        } else {
          fill_constant(t, spec.init == InitKind::mhc_alpha ? init.alpha_init : 0.0);
        }
        return;
      }
      const bool is_phi = spec.init == InitKind::mhc_phi, is_alpha = spec.init == InitKind::mhc_alpha;
      HostTensor phi = is_phi ? HostTensor() : HostTensor(dtype_, Shape{n * C, K});
      HostTensor alpha = is_alpha ? HostTensor() : HostTensor(dtype_, Shape{3});
      HostTensor bias = spec.init == InitKind::mhc_bias ? HostTensor() : HostTensor(dtype_, Shape{K});
      ops::MhcInit scratch_init = init;
      if (!is_phi) scratch_init.phi = ops::MhcInit::Phi::zero;  // skip drawing a phi nobody keeps
      ops::mhc_init_parameters(is_phi ? t : phi.view(), is_alpha ? t : alpha.view(),
                               spec.init == InitKind::mhc_bias ? t : bias.view(), static_cast<int>(spec.layer),
                               scratch_init, seed, prefix);
      return;
    }
    case InitKind::hc_scale:
    case InitKind::hc_am:
    case InitKind::hc_ar:
    case InitKind::hc_bb: {
      HostTensor w(dtype_, Shape{C, n + 2}), s(dtype_, Shape{2}), am(dtype_, Shape{n}), ar(dtype_, Shape{n, n}),
          bb(dtype_, Shape{n});
      ops::hc_init_parameters(w, s, am, ar, bb, static_cast<int>(spec.layer));
      const HostTensor& src = spec.init == InitKind::hc_scale ? s
                              : spec.init == InitKind::hc_am  ? am
                              : spec.init == InitKind::hc_ar  ? ar
                                                              : bb;
      MHC_CHECK(src.view().shape == t.shape, ShapeError, "ParameterStore: ", spec.name, " has shape ",
                t.shape.str(), ", the HC init expects ", src.view().shape.str());
      std::copy_n(static_cast<const std::byte*>(src.view().data), t.bytes(), static_cast<std::byte*>(t.data));
      return;
    }
  }
}

std::vector<ParamSpec> block_parameter_specs(const std::vector<ParamSpec>& all, std::int64_t first,
                                             std::int64_t last) {
  std::vector<ParamSpec> out;
  for (const auto& s : all)
    if (s.block >= first && s.block < last) out.push_back(s);
  return out;
}

}  // namespace mhc::model
