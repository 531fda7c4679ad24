// Test support for the model layers: tiny configs and copies between parameter tensors and host tensors.
#pragma once

#include <cstring>

#include "config/config.hpp"
#include "core/host_tensor.hpp"

namespace mhc::test {

// B = 2 sequences of T = 3 tokens, C = 8, 2 heads, F = 12.
inline config::Config tiny_config(model::ConnectionType type, std::int64_t n_streams, std::int64_t n_blocks = 1) {
  config::Config cfg;
  cfg.model.vocab_size = 16;
  cfg.model.d_model = 8;
  cfg.model.n_blocks = n_blocks;
  cfg.model.n_heads = 2;
  cfg.model.ffn_hidden = 12;
  cfg.model.seq_len = 3;
  cfg.residual.type = type;
  cfg.residual.n_streams = n_streams;
  return cfg;
}

// A host copy of a CPU tensor.
inline HostTensor host_copy(const Tensor& t) {
  HostTensor h(t.dtype, t.shape);
  std::memcpy(h.view().data, t.data, static_cast<std::size_t>(t.bytes()));
  return h;
}

inline void copy_into(const Tensor& dst, const HostTensor& src) {
  std::memcpy(dst.data, src.view().data, static_cast<std::size_t>(dst.bytes()));
}

inline bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.dtype == b.dtype && a.shape == b.shape &&
         std::memcmp(a.data, b.data, static_cast<std::size_t>(a.bytes())) == 0;
}

}  // namespace mhc::test
