// The parameter table of a model: every tensor's global name, shape, component, init and decay rule.
// Names use global block indices, so any pipeline layout names (and initialises) a tensor the same way.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/tensor.hpp"
#include "ops/mhc_coeffs.hpp"

namespace mhc::model {

// Groups for the parameter report of `mhc-train plan`.
enum class Component : std::uint8_t { embedding, attention, mlp, norm, connection, head };
std::string_view component_name(Component c);

// How a tensor is initialised (spec section 1 and 2); the scale of `normal` is in ParamSpec::init_std. connection:
// by the connection kind of the config (ConnectionKind::init_parameter). gate_phi / gate_alpha: the head-merge gate's
// phi (Xavier uniform, or 0 with residual.phi_init "zero") and alpha (residual.alpha_init).
enum class InitKind : std::uint8_t { normal, ones, zeros, connection, gate_phi, gate_alpha };

struct ParamSpec {
  std::string name;      // e.g. "blocks.3.attn.wq"
  Shape shape;
  Component component;
  InitKind init;
  double init_std = 0.0;  // for InitKind::normal
  bool weight_decay;      // false for norms, gates, biases and connection static parameters
  std::int64_t block;     // transformer block index, -1 for embedding / final norm / head
  std::int64_t layer;     // global residual layer index (2 * block + {0: attention, 1: MLP}), -1 outside blocks
};

// The init std of the embedding and the input projections, and of the output projections (Wo, Wdown: GPT-2's
// 0.02 / sqrt(2 n_blocks)).
constexpr double kInitStd = 0.02;
double output_init_std(const config::Config& cfg);

// One parameter of a component as its code reads it: the value and the gradient tensor in the store, and what the
// matrix products read: the parameter's bf16 copy under train.precision "bf16" (refreshed from value by the
// component before each forward), else value itself.
struct Param {
  Tensor value;
  Tensor grad;
  Tensor operand;
};

// One entry of a component's parameter table: the leaf under the component's prefix (e.g. "wq"), the member of its
// parameter struct P, and the rest of its spec. The table generates the component's ParamSpecs and binds the
// struct to the store once (bind_params in parameters.hpp).
template <class P>
struct ParamField {
  const char* leaf;
  Param P::*member;
  Shape shape;
  Component component;
  InitKind init;
  double init_std;
  bool weight_decay;
};
template <class P>
using ParamTable = std::vector<ParamField<P>>;

// The specs of a table's parameters under `prefix`, in table order.
template <class P>
std::vector<ParamSpec> param_specs_of(const ParamTable<P>& table, const std::string& prefix, std::int64_t block,
                                      std::int64_t layer) {
  std::vector<ParamSpec> specs;
  for (const auto& f : table)
    specs.push_back({prefix + "." + f.leaf, f.shape, f.component, f.init, f.init_std, f.weight_decay, block, layer});
  return specs;
}
// A connection parameter's entry: component connection, init InitKind::connection.
template <class P>
ParamField<P> connection_field(const char* leaf, Param P::*member, Shape shape, bool weight_decay) {
  return {leaf, member, std::move(shape), Component::connection, InitKind::connection, 0.0, weight_decay};
}

// Whether spec's name ends in "." + leaf.
bool has_leaf(const ParamSpec& spec, std::string_view leaf);
// "blocks.3.attn.conn.phi" -> "blocks.3.attn.conn".
std::string parent_name(const std::string& name);
// The mHC initialisation rules of the residual section (n, alpha_init, bias_init, phi_init).
ops::MhcInit mhc_init_of(const config::Config& cfg);

// Every parameter of the model described by `cfg`, in a fixed order (embedding, blocks, head).
std::vector<ParamSpec> model_parameter_specs(const config::Config& cfg);

// Total elements of the specs whose component is `c`.
std::int64_t count_parameters(const std::vector<ParamSpec>& specs, Component c);
std::int64_t count_parameters(const std::vector<ParamSpec>& specs);

}  // namespace mhc::model
