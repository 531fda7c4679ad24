// GEMM shapes of a training step, written out from the layer code (sublayer.cpp, model.cpp, the connection kinds).
#include "model/gemm_shapes.hpp"

#include "model/connection_kind.hpp"

namespace mhc::model {

namespace {

// A linear layer y (N, O) = x (N, I) w^T used `count` times: forward, input gradient dx = dy w, weight gradient
// dw = dy^T x (lib/ops/matmul.cpp).
void add_linear(std::vector<GemmShape>& out, const std::string& use, std::int64_t N, std::int64_t O, std::int64_t I,
                std::int64_t count) {
  out.push_back({use + " fwd", N, O, I, false, true, count});
  out.push_back({use + " dX", N, I, O, false, false, count});
  out.push_back({use + " dW", O, I, N, true, false, count});
}

}  // namespace

std::vector<GemmShape> step_gemm_shapes(const config::Config& cfg) {
  const auto& m = cfg.model;
  const std::int64_t N = cfg.train.micro_batch * m.seq_len, C = m.d_model, F = m.ffn_hidden, V = m.vocab_size;
  const std::int64_t L = m.n_blocks, n = cfg.residual.n_streams;
  std::vector<GemmShape> out;
  add_linear(out, "attn wq/wk/wv", N, C, C, 3 * L);
  add_linear(out, "attn wo", N, C, C, L);
  add_linear(out, "mlp w_gate/w_up", N, F, C, 2 * L);
  add_linear(out, "mlp w_down", N, C, F, L);
  add_linear(out, "lm_head", N, V, C, 1);
  cfg.residual.type->add_gemm_shapes(out, cfg, N, 2 * L);
  if (cfg.residual.head_merge == config::HeadMerge::gate) {  // head_merge.cpp: (N, n C) x (n C, n)
    out.push_back({"head merge fwd", N, n, n * C, false, false, 1});
    out.push_back({"head merge dX", N, n * C, n, false, true, 1});
    out.push_back({"head merge dphi", n * C, n, N, true, false, 1});
  }
  return out;
}

}  // namespace mhc::model
