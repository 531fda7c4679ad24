// Test support for the model layers: tiny configs, parameter noise and copies between parameter tensors and host
// tensors.
#pragma once

#include <cstring>

#include "config/config.hpp"
#include "core/host_tensor.hpp"
#include "model/parameters.hpp"
#include "ops/elementwise.hpp"
#include "support/gradcheck.hpp"

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

// Adds N(0, scale^2) noise keyed by each parameter's name to every parameter of a CPU store (moves it away from its
// init so no gradient is degenerate; two stores that share names get the same values for them, in f32 the f64
// noise rounded).
inline void perturb_parameters(const model::ParameterStore& store, double scale) {
  for (const auto& spec : store.specs()) {
    const Tensor p = store.param(spec.name);
    const HostTensor noise = random_tensor(spec.shape, "noise." + spec.name, scale);
    HostTensor in_dtype(p.dtype, spec.shape);
    ops::convert_dtype(in_dtype, noise);
    ops::axpby(p, 1.0f, p, 1.0f, in_dtype);
  }
}

// (batch, T + 1) token ids of cfg's vocabulary from a fixed LCG keyed by seed.
inline HostTensor random_tokens(const config::Config& cfg, std::int64_t batch, std::uint64_t seed) {
  HostTensor t(DType::i32, Shape{batch, cfg.model.seq_len + 1});
  std::uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (std::int64_t k = 0; k < t.numel(); ++k) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    t.ptr<std::int32_t>()[k] = static_cast<std::int32_t>((s >> 33) % static_cast<std::uint64_t>(cfg.model.vocab_size));
  }
  return t;
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
