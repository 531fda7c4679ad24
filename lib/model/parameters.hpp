// ParameterStore: one parameter arena and one gradient arena carved by the names of the parameter table, with init.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/arena.hpp"
#include "model/param_specs.hpp"

namespace mhc::model {

// Owns the parameters and gradients of any subset of the model's parameter table (a pipeline stage holds only its
// blocks). Every tensor is initialised from (seed, its global name) alone, so the values of a name do not depend on
// which other parameters the store holds. Gradients start at zero and accumulate (+=) until zero_grads().
class ParameterStore {
 public:
  // dtype f32 (training) or f64 (gradient tests); cfg supplies the connection init rules (residual section).
  // On Device::cuda (f32 only) the arenas are GPU memory and the host-drawn initial values are uploaded: the same
  // seed gives the same bits on either device.
  ParameterStore(std::vector<ParamSpec> specs, const config::Config& cfg, DType dtype, std::uint64_t seed,
                 Device device = Device::cpu);

  // The parameter / gradient tensor of a global name; throws ConfigError naming the name when it is not held.
  Tensor param(const std::string& name) const;
  Tensor grad(const std::string& name) const;
  // What the matrix products read for `name`: its bf16 copy when the store holds one (has_bf16_copy), else the
  // parameter itself. The copy is as fresh as the last refresh_operand of the Param bound to it.
  Tensor matmul_operand(const std::string& name) const;
  // Whether a store of `dtype` for `cfg` keeps a bf16 copy of `spec`: the attention and MLP weight matrices under
  // train.precision "bf16" in an f32 store (an f64 store, the gradient oracle, keeps none).
  static bool has_bf16_copy(const ParamSpec& spec, const config::Config& cfg, DType dtype);
  bool contains(const std::string& name) const { return params_.count(name) != 0; }

  const std::vector<ParamSpec>& specs() const { return specs_; }
  DType dtype() const { return dtype_; }
  Device device() const { return params_arena_.device(); }
  void zero_grads() { grads_arena_.zero_used(); }
  std::int64_t parameter_bytes() const { return params_arena_.capacity(); }
  std::int64_t gradient_bytes() const { return grads_arena_.capacity(); }
  std::int64_t bf16_copy_bytes() const { return copies_arena_.capacity(); }
  // The bytes a store of these specs holds for its values (and as many for its gradients), alignment included.
  static std::int64_t arena_bytes(const std::vector<ParamSpec>& specs, DType dtype);
  // The bytes its bf16 copies take (0 under train.precision "fp32").
  static std::int64_t bf16_copy_arena_bytes(const std::vector<ParamSpec>& specs, const config::Config& cfg,
                                            DType dtype);

 private:
  // Writes the initial value of `spec` into t (a CPU tensor of its shape).
  void init_parameter(const ParamSpec& spec, Tensor t, const config::Config& cfg, std::uint64_t seed);

  std::vector<ParamSpec> specs_;
  DType dtype_;
  Arena params_arena_;
  Arena grads_arena_;
  Arena copies_arena_;
  std::map<std::string, Tensor> params_;
  std::map<std::string, Tensor> grads_;
  std::map<std::string, Tensor> copies_;  // bf16, of the specs that has_bf16_copy names
};

// Copies `value` (a CPU tensor) into the CPU tensor t of the same shape and dtype (ShapeError naming the parameter
// `name` otherwise): for initialisers that draw a parameter group and keep one member.
void set_initial_value(Tensor t, Tensor value, const std::string& name);

// The parameter struct of a component bound to `store` by its table (names under `prefix`); ConfigError naming the
// parameter when the store does not hold one. The tensors stay valid while the store lives.
template <class P>
P bind_params(const ParamTable<P>& table, const ParameterStore& store, const std::string& prefix) {
  P p;
  for (const auto& f : table) {
    const std::string name = prefix + "." + f.leaf;
    p.*f.member = Param{store.param(name), store.grad(name), store.matmul_operand(name)};
  }
  return p;
}

// Rounds p.value into p.operand (to nearest, ties to even) when that is a bf16 copy; nothing when it is the value.
void refresh_operand(const Param& p);

// The specs of `all` that belong to the transformer blocks [first, last) (no embedding, final norm or head).
std::vector<ParamSpec> block_parameter_specs(const std::vector<ParamSpec>& all, std::int64_t first,
                                             std::int64_t last);

}  // namespace mhc::model
