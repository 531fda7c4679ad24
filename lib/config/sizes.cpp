// Size limits of a config (checked before anything is allocated) and the memory estimate behind them.
#include "config/sizes.hpp"

#include <unistd.h>

#include <cstdio>
#include <limits>

#include "config/keys.hpp"
#include "config/validate.hpp"
#include "core/device_runtime.hpp"
#include "core/error.hpp"
#include "core/saturating.hpp"

namespace mhc::config {

namespace {

// a * b and a + b for non-negative values, saturating at kSaturated instead of overflowing.
std::int64_t mul(std::int64_t a, std::int64_t b) { return saturating_mul(a, b); }
std::int64_t add(std::int64_t a, std::int64_t b) { return saturating_add(a, b); }

std::string gib(std::int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

}  // namespace

std::int64_t parameter_count(const Config& c) {
  const std::int64_t C = c.model.d_model, V = c.model.vocab_size, F = c.model.ffn_hidden, n = c.residual.n_streams;
  const std::int64_t conn = c.residual.type->parameter_count(n, C);  // per connection (residual layer)
  // Per block: two norms, Wq Wk Wv Wo, W_gate W_up W_down, two connections.
  const std::int64_t block = add(add(mul(2, C), mul(4, mul(C, C))), add(mul(3, mul(F, C)), mul(2, conn)));
  std::int64_t total = add(mul(V, C), mul(c.model.n_blocks, block));
  if (c.residual.head_merge == HeadMerge::gate) total = add(total, add(mul(mul(n, C), n), 1 + n));
  total = add(total, C);  // final norm
  if (!c.model.tie_embeddings) total = add(total, mul(V, C));
  return total;
}

std::int64_t min_run_bytes(const Config& c, std::int64_t bytes_per_parameter, std::int64_t batch) {
  const std::int64_t tokens = mul(batch, c.model.seq_len);
  // The logits, and the two n x C stream buffers the layers pass between them; with or without recomputation the
  // model holds at least these.
  const std::int64_t per_token = add(c.model.vocab_size, mul(2, mul(c.residual.n_streams, c.model.d_model)));
  return add(mul(bytes_per_parameter, parameter_count(c)), mul(4, mul(tokens, per_token)));
}

std::int64_t host_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? mul(pages, page) : 0;
}

void check_memory(const Config& c, const std::string& command, std::int64_t bytes_per_parameter, std::int64_t batch,
                  std::int64_t pipeline_ranks) {
  const bool gpu = c.parallel.device == Device::cuda;
  const std::int64_t have = gpu ? cuda_free_memory(local_device_index()) : host_memory_bytes();
  const std::int64_t need = min_run_bytes(c, bytes_per_parameter, batch) / pipeline_ranks;
  MHC_CHECK(have == 0 || need <= have, MemoryError, command, " needs at least ", gib(need),
            pipeline_ranks > 1 ? " on its largest pipeline rank" : "", " (", parameter_count(c), " parameters at ",
            bytes_per_parameter, " bytes each, plus one batch of logits and residual streams) but ",
            gpu ? "its GPU has " : "this machine has ", gib(have), gpu ? " free" : "",
            "; make the model or train.micro_batch smaller, or raise parallel.pp");
}

namespace detail {

namespace {

std::string text(std::int64_t v) { return std::to_string(v); }

}  // namespace

void check_sizes(const Config& c, const Origins& o) {
  check_key_limits(c, o);  // each count's upper bound (the field tables), before the products below

  const ParallelConfig& p = c.parallel;
  if (p.num_stages() * c.train.micro_batches > kMaxPipelineSlots) {
    throw ConfigError(o.of_any({"train.micro_batches", "parallel.pp", "parallel.schedule"}) + ": " +
                      text(p.num_stages()) + " pipeline stages x train.micro_batches " + text(c.train.micro_batches) +
                      " is more than " + text(kMaxPipelineSlots) +
                      " (the schedule holds 3 instructions per micro-batch and stage, and plan simulates them all)");
  }
  const std::int64_t kIntMax = std::numeric_limits<std::int32_t>::max();
  if (mul(p.pp, p.dp) > kIntMax) {
    throw ConfigError(o.of_any({"parallel.pp", "parallel.dp"}) + ": parallel.pp x parallel.dp = " + text(p.pp) +
                      " x " + text(p.dp) + " ranks is more than " + text(kIntMax) + " (MPI ranks are 32-bit)");
  }
  const TrainConfig& t = c.train;
  const std::int64_t bytes = min_run_bytes(c, 16, t.micro_batch);
  if (bytes > kMaxRunBytes) {
    const std::int64_t params = parameter_count(c);
    throw ConfigError(
        o.of_any({"model.d_model", "model.vocab_size", "model.ffn_hidden", "model.n_blocks", "model.seq_len",
                  "train.micro_batch", "residual.n_streams"}) +
        ": this model cannot be built: " +
        (params == kSaturated ? std::string("its parameter count does not fit 64 bits")
                              : text(params) + " parameters and one micro-batch of activations need " +
                                    (bytes == kSaturated ? "more than 2^63" : "at least " + text(bytes)) +
                                    " bytes, over the limit of 2^50 (1 PiB)") +
        "; check model.d_model, model.vocab_size, model.ffn_hidden, model.seq_len and train.micro_batch");
  }
  const std::int64_t row = c.model.seq_len + 1;
  const std::int64_t tokens = mul(mul(mul(mul(t.steps, t.micro_batches), p.dp), t.micro_batch), row);
  if (tokens == kSaturated || mul(mul(t.eval_batches, t.micro_batch), row) == kSaturated) {
    throw ConfigError(o.of_any({"train.steps", "train.micro_batch", "train.micro_batches", "parallel.dp",
                                "train.eval_batches", "model.seq_len"}) +
                      ": the tokens of the run (train.steps x train.micro_batches x parallel.dp x "
                      "train.micro_batch x (model.seq_len + 1), and the same for train.eval_batches x "
                      "train.micro_batch) do not fit 64 bits");
  }
}

}  // namespace detail

}  // namespace mhc::config
