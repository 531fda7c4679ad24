// The descriptor of one connection type (residual.type): everything the config, the model, the trainer, the pipeline
// executor and plan ask of a type. A new type is one file in lib/model/connections/ and one line in
// connection_registry.cpp; nothing else switches on the type.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.hpp"
#include "model/activations.hpp"

namespace mhc::config {
struct Config;
}

namespace mhc::model {

class Connection;
class ParameterStore;
struct ParamSpec;
struct GemmShape;

// A combination of keys a kind rejects: the keys to change (the first overridden one names the origin) and why.
struct ConfigProblem {
  std::vector<std::string> keys;  // e.g. {"residual.type", "residual.n_streams"}
  std::string message;
};

class ConnectionKind {
 public:
  virtual ~ConnectionKind() = default;

  // ---- config ----
  // The spelling of residual.type, e.g. "mhc".
  virtual std::string_view name() const = 0;
  // residual.n_streams when the JSON does not give it.
  virtual std::int64_t default_streams() const = 0;
  // The combinations of keys this kind rejects (validated keys: every single-key range already holds).
  virtual std::vector<ConfigProblem> check(const config::Config& cfg) const = 0;

  // ---- model ----
  // true: every residual layer keeps its stream input x (B*T, n, C) and h_res (B*T, n, n) in its connection context
  // (its state derives from StreamState), which selective recomputation rebuilds and the H_res diagnostics read.
  // false (plain
  // residual): the layer keeps nothing, H_res is 1, and there is nothing to recompute.
  virtual bool keeps_streams() const = 0;
  // The parameters of one connection, in a fixed order: names under `prefix` (e.g. "blocks.3.attn.conn"), component
  // connection, init InitKind::connection (init_parameter fills them), the given block and residual layer index.
  virtual std::vector<ParamSpec> parameter_specs(const config::Config& cfg, const std::string& prefix,
                                                 std::int64_t block, std::int64_t layer) const = 0;
  // The number of parameters parameter_specs gives, for any validated key values (saturating at kSaturated; the
  // config size limits use it before anything is built).
  virtual std::int64_t parameter_count(std::int64_t n_streams, std::int64_t d_model) const = 0;
  // Writes the initial value of `spec` (one of parameter_specs) into t (a CPU tensor of its shape and the store's
  // dtype); the values depend only on (seed, spec.name, spec.layer, cfg).
  virtual void init_parameter(const ParamSpec& spec, Tensor t, const config::Config& cfg,
                              std::uint64_t seed) const = 0;
  // Multiply-accumulates per token of one connection's matrix products (the FLOPs per token of `plan` and `bench`).
  virtual std::int64_t macs_per_token(const config::Config& cfg) const = 0;
  // The GEMMs of `layers` connections for micro-batches of N tokens (bench's GEMM report).
  virtual void add_gemm_shapes(std::vector<GemmShape>& out, const config::Config& cfg, std::int64_t N,
                               std::int64_t layers) const = 0;
  // The tensors one connection keeps in its context for a micro-batch of `batch` sequences, from the connection's
  // state table (plan's prediction is this layout; the connection allocates it). Entries of EntryRole::transient are
  // written and read by backward_input alone: layers whose backwards run one after another may share them
  // (selective recomputation does).
  virtual ContextLayout activation_layout(const config::Config& cfg, DType dtype, std::int64_t batch) const = 0;
  // The connection of the residual layer whose parameters live under `prefix` in `store`.
  virtual std::unique_ptr<Connection> make(const config::Config& cfg, const ParameterStore& store,
                                           const std::string& prefix) const = 0;
};

// A value of residual.type: a registered kind, compared by identity (never null in a Config).
using ConnectionType = const ConnectionKind*;

// Every registered kind, in the order of connection_registry.cpp (residual, hc, mhc, ...).
const std::vector<ConnectionType>& connection_kinds();
// The kind spelt `name`, or nullptr.
ConnectionType find_connection_kind(std::string_view name);
// The kind spelt `name`; ConfigError listing the registered names when there is none.
ConnectionType connection_kind(std::string_view name);
// The registered names for messages: "\"residual\", \"hc\", \"mhc\"".
std::string connection_kind_choices();

}  // namespace mhc::model
