// The parameter table of a model: every tensor's global name, shape, component, init and decay rule.
// Names use global block indices, so any pipeline layout names (and initialises) a tensor the same way.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/tensor.hpp"

namespace mhc::model {

// Groups for the parameter report of `mhc-train plan`.
enum class Component : std::uint8_t { embedding, attention, mlp, norm, connection, head };
std::string_view component_name(Component c);

// How a tensor is initialised (spec section 1 and 2); the scale of `normal` is in ParamSpec::init_std.
enum class InitKind : std::uint8_t { normal, ones, zeros, mhc_phi, mhc_alpha, mhc_bias, hc_scale, hc_am, hc_ar, hc_bb };

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

// Every parameter of the model described by `cfg`, in a fixed order (embedding, blocks, head).
std::vector<ParamSpec> model_parameter_specs(const config::Config& cfg);

// Total elements of the specs whose component is `c`.
std::int64_t count_parameters(const std::vector<ParamSpec>& specs, Component c);
std::int64_t count_parameters(const std::vector<ParamSpec>& specs);

}  // namespace mhc::model
