// ResidualLayer: builds the sublayer and the connection of one residual layer from the config.
#include "model/residual_layer.hpp"

namespace mhc::model {

ResidualLayer::ResidualLayer(const config::Config& cfg, const ParameterStore& store, std::int64_t block,
                             SublayerKind kind)
    : prefix_("blocks." + std::to_string(block) + (kind == SublayerKind::attention ? ".attn" : ".mlp")),
      device_(store.device()) {
  if (kind == SublayerKind::attention) {
    f_ = std::make_unique<AttentionSublayer>(cfg, store, prefix_);
  } else {
    f_ = std::make_unique<MlpSublayer>(cfg, store, prefix_);
  }
  connection_ = cfg.residual.type->make(cfg, store, prefix_ + ".conn");
}

LayerContext ResidualLayer::make_context(std::int64_t batch) const {
  return LayerContext{connection_->make_context(batch), f_->make_context(batch)};
}

LayerContext ResidualLayer::make_context_sharing(std::int64_t batch, const TensorViews& connection,
                                                const TensorViews& f_input, bool saves_input) const {
  for (const auto& s : connection_->activation_layout(batch).specs)
    MHC_CHECK(connection.count(s.name) == 1, ShapeError, prefix_, ": shared connection state lacks ", s.name);
  return LayerContext{connection_->make_context(batch, connection), f_->make_context(batch, f_input), saves_input};
}

std::int64_t ResidualLayer::activation_bytes(std::int64_t batch) const {
  return Arena::bytes_needed(connection_->activation_layout(batch).specs) +
         Arena::bytes_needed(f_->activation_layout(batch).specs);
}

}  // namespace mhc::model
