// Selective recomputation: the shared arenas, the store of block inputs and F outputs, and the block rebuild.
#include "model/recompute.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "model/connection.hpp"
#include "model/sublayer.hpp"

namespace mhc::model {

namespace {

// The store of a stage of L residual layers: every block's input stream state and every layer's F output.
std::vector<TensorSpec> saved_specs(const config::Config& cfg, DType t, std::int64_t batch, std::int64_t L,
                                    std::int64_t block_layers) {
  const std::int64_t N = batch * cfg.model.seq_len, C = cfg.model.d_model, n = cfg.residual.n_streams;
  std::vector<TensorSpec> s;
  for (std::int64_t b = 0; b < recompute_block_count(L, block_layers); ++b)
    s.push_back({"x_block." + std::to_string(b), t, Shape{N, n, C}});
  for (std::int64_t l = 0; l < L; ++l) s.push_back({"y." + std::to_string(l), t, Shape{N, C}});
  return s;
}

// The arenas shared by the layers, by name: per block position j the connection state (without y, kept in the
// store, and for j = 0 without x, the stored block input), then per position F's input entries (u, RMSNorm(u),
// rstd), then one set of the connection's transient backward buffers.
std::vector<std::pair<std::string, std::vector<TensorSpec>>> shared_tables(const config::Config& cfg, DType t,
                                                                           std::int64_t batch,
                                                                           std::int64_t block_layers) {
  const ContextLayout conn = cfg.residual.type->activation_layout(cfg, t, batch);
  const std::vector<std::string> transient = conn.names(EntryRole::transient);
  std::vector<std::pair<std::string, std::vector<TensorSpec>>> tables;
  for (std::int64_t j = 0; j < block_layers; ++j) {
    std::vector<std::string> elsewhere = transient;
    elsewhere.push_back("y");
    if (j == 0) elsewhere.push_back("x");
    tables.emplace_back("recompute connection " + std::to_string(j), specs_without(conn.specs, elsewhere));
  }
  for (std::int64_t j = 0; j < block_layers; ++j) {  // layer l is attention for even l
    const auto f = j % 2 == 0 ? attention_activation_specs(cfg, t, batch) : mlp_activation_specs(cfg, t, batch);
    tables.emplace_back("recompute F input " + std::to_string(j), specs_named(f, Sublayer::input_entries()));
  }
  tables.emplace_back("recompute transient", specs_named(conn.specs, transient));
  return tables;
}

}  // namespace

bool recompute_on(const config::Config& cfg) { return cfg.recompute.mhc && cfg.residual.type->keeps_streams(); }

std::int64_t recompute_block_layers(const config::Config& cfg, std::int64_t layers) {
  const std::int64_t L = std::max<std::int64_t>(layers, 1), n = cfg.residual.n_streams;
  if (cfg.recompute.block_layers == "stage") return L;
  if (cfg.recompute.block_layers == "auto") {
    const auto k = static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(n * L) / (n + 2.0))));
    return std::clamp<std::int64_t>(k, 1, L);
  }
  return std::min(cfg.recompute.block_layers_value(), L);
}

std::int64_t recompute_block_count(std::int64_t layers, std::int64_t block_layers) {
  return (layers + block_layers - 1) / block_layers;
}

Recompute::Recompute(const config::Config& cfg, const std::vector<ResidualLayer>& layers, DType dtype, Device device,
                     std::int64_t batch)
    : block_layers_(recompute_block_layers(cfg, static_cast<std::int64_t>(layers.size()))) {
  MHC_CHECK(!layers.empty(), ConfigError, "recompute: a stage without residual layers has nothing to recompute");
  for (const auto& [name, specs] : shared_tables(cfg, dtype, batch, block_layers_))
    shared_.emplace_back(name, specs, TensorViews{}, device);
  saved_ = ActivationContext("recompute store",
                             saved_specs(cfg, dtype, batch, static_cast<std::int64_t>(layers.size()), block_layers_),
                             {}, device);
}

std::vector<LayerContext> Recompute::layer_contexts(const std::vector<ResidualLayer>& layers,
                                                    std::int64_t batch) const {
  const auto Lr = static_cast<std::size_t>(block_layers_);
  const std::size_t last_block_start = (layers.size() - 1) / Lr * Lr;
  std::vector<LayerContext> contexts;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const std::size_t j = l % Lr;
    TensorViews conn = shared_[j].tensors();
    for (const auto& [name, t] : shared_.back().tensors()) conn[name] = t;
    conn["y"] = saved_["y." + std::to_string(l)];
    if (j == 0) conn["x"] = saved_["x_block." + std::to_string(l / Lr)];
    contexts.push_back(
        layers[l].make_context_sharing(batch, conn, shared_[Lr + j].tensors(), j == 0 || l >= last_block_start));
  }
  return contexts;
}

void Recompute::rebuild(std::int64_t b, std::vector<ResidualLayer>& layers, const std::vector<LayerContext>& contexts) {
  if (b == resident_) return;
  const auto first = static_cast<std::size_t>(b * block_layers_);
  const std::size_t end = std::min(first + static_cast<std::size_t>(block_layers_), layers.size());
  for (std::size_t l = first; l < end; ++l) {
    // x_l is in layer l's context already (the stored block input, or written there by layer l - 1); x_out is
    // x_in of layer l + 1, written straight into that layer's context; the block's last x_out is not needed.
    const Tensor x_out = l + 1 < end ? contexts[l + 1].connection.state<StreamState>().x : Tensor();
    layers[l].forward_from_f_output(contexts[l], contexts[l].connection.state<StreamState>().x, x_out);
  }
  resident_ = b;
}

std::int64_t Recompute::bytes_held() const {
  std::int64_t total = saved_.bytes_held();
  for (const auto& ctx : shared_) total += ctx.bytes_held();
  return total;
}

std::int64_t Recompute::predicted_bytes(const config::Config& cfg, DType dtype, std::int64_t batch,
                                        std::int64_t layers) {
  // Each layer's context owns F's entries but its input ones; its connection part is all views.
  const std::vector<std::string>& input = Sublayer::input_entries();
  std::int64_t total =
      layers / 2 *
      (Arena::bytes_needed(specs_without(attention_activation_specs(cfg, dtype, batch), input)) +
       Arena::bytes_needed(specs_without(mlp_activation_specs(cfg, dtype, batch), input)));
  const std::int64_t block_layers = recompute_block_layers(cfg, layers);
  for (const auto& table : shared_tables(cfg, dtype, batch, block_layers)) total += Arena::bytes_needed(table.second);
  return total + Arena::bytes_needed(saved_specs(cfg, dtype, batch, layers, block_layers));
}

}  // namespace mhc::model
