// Checks of a parsed Config: every key's range (from the field tables), then the combinations of keys, with errors
// that say which key to change.
#include "config/validate.hpp"

#include <numeric>

#include "config/keys.hpp"
#include "core/error.hpp"

namespace mhc::config::detail {

namespace {

std::string text(double v) { return show(json(v)); }
std::string text(std::int64_t v) { return std::to_string(v); }
template <typename E>
std::string quoted(E v) {
  return "\"" + to_string(v) + "\"";
}

// Throws "<origin>: <message>", the origin being the first of paths set by --set, else the document.
[[noreturn]] void conflict(const Origins& o, const std::vector<std::string>& paths, const std::string& message) {
  throw ConfigError(o.of_any(paths) + ": " + message);
}

void check_model(const Config& c, const Origins& o) {
  const ModelConfig& m = c.model;
  if (m.d_model % m.n_heads != 0) {
    conflict(o, {"model.d_model", "model.n_heads"},
             "model.d_model (" + text(m.d_model) + ") must be divisible by model.n_heads (" + text(m.n_heads) + ")");
  }
  const std::int64_t head_size = m.d_model / m.n_heads;
  if (head_size % 2 != 0) {
    conflict(o, {"model.d_model", "model.n_heads"},
             "the head size model.d_model / model.n_heads = " + text(m.d_model) + " / " + text(m.n_heads) + " = " +
                 text(head_size) + " must be even for RoPE; change model.d_model or model.n_heads");
  }
}

void check_residual(const Config& c, const Origins& o) {
  const ResidualConfig& r = c.residual;
  for (const model::ConfigProblem& p : r.type->check(c)) conflict(o, p.keys, p.message);
  if (r.head_merge == HeadMerge::gate && r.n_streams == 1) {
    conflict(o, {"residual.head_merge", "residual.n_streams", "residual.type"},
             "residual.head_merge \"gate\" needs residual.n_streams > 1, got 1; use residual.head_merge \"sum\"");
  }
}

void check_data(const Config& c, const Origins& o) {
  const DataConfig& d = c.data;
  if (d.source == DataSource::synthetic && !d.path.empty()) {
    conflict(o, {"data.path", "data.source"},
             "data.path is \"" + d.path +
                 "\" but data.source \"synthetic\" reads no file; set data.source to \"text\" or \"tokens\", "
                 "or data.path to \"\"");
  }
  if (d.source != DataSource::synthetic && d.path.empty()) {
    conflict(o, {"data.source", "data.path"}, "data.source " + quoted(d.source) + " needs data.path (the input file)");
  }
  if (d.source == DataSource::synthetic && c.model.vocab_size < kSyntheticMinVocab) {
    conflict(o, {"model.vocab_size", "data.source"},
             "data.source \"synthetic\" needs model.vocab_size >= " + text(kSyntheticMinVocab) +
                 " (its token ids), got " + text(c.model.vocab_size));
  }
  if (d.source == DataSource::text && c.model.vocab_size != 256) {
    conflict(
        o, {"model.vocab_size", "data.source"},
        "model.vocab_size must be 256 for data.source \"text\" (byte-level tokens), got " + text(c.model.vocab_size));
  }
}

void check_train(const Config& c, const Origins& o) {
  const TrainConfig& t = c.train;
  if (t.min_lr > t.lr) {
    conflict(o, {"train.min_lr", "train.lr"},
             "train.min_lr (" + text(t.min_lr) + ") must be <= train.lr (" + text(t.lr) + ")");
  }
  if (t.warmup > t.steps) {
    conflict(o, {"train.warmup", "train.steps"},
             "train.warmup (" + text(t.warmup) + ") must be <= train.steps (" + text(t.steps) + ")");
  }
  if (t.eval_every > 0 && c.data.val_fraction == 0.0) {
    conflict(o, {"train.eval_every", "data.val_fraction"},
             "train.eval_every is " + text(t.eval_every) +
                 " but data.val_fraction is 0, so there is no validation data; set data.val_fraction > 0 or "
                 "train.eval_every to 0");
  }
}

std::string stages_text(const ParallelConfig& p) {
  if (p.schedule == dist::ScheduleKind::dualpipev) {
    return text(p.num_stages()) + " pipeline stages (2 * parallel.pp for parallel.schedule \"dualpipev\")";
  }
  return text(p.num_stages()) + " pipeline stage" + (p.num_stages() == 1 ? "" : "s") + " (parallel.pp)";
}

void check_parallel(const Config& c, const Origins& o) {
  const ParallelConfig& p = c.parallel;
  const std::int64_t stages = p.num_stages();
  if (p.layout.empty()) {
    if (c.model.n_blocks < stages) {
      conflict(o, {"model.n_blocks", "parallel.pp", "parallel.schedule"},
               "model.n_blocks (" + text(c.model.n_blocks) + ") is less than the " + stages_text(p) +
                   "; every stage needs at least one block");
    }
  } else {
    if (static_cast<std::int64_t>(p.layout.size()) != stages) {
      conflict(o, {"parallel.layout", "parallel.pp", "parallel.schedule"},
               "parallel.layout has " + text(static_cast<std::int64_t>(p.layout.size())) +
                   (p.layout.size() == 1 ? " entry" : " entries") + " but there " + (stages == 1 ? "is " : "are ") +
                   stages_text(p) + "; give one block count per stage");
    }
    const std::int64_t sum = std::accumulate(p.layout.begin(), p.layout.end(), std::int64_t{0});
    if (sum != c.model.n_blocks) {
      conflict(o, {"parallel.layout", "model.n_blocks"},
               "parallel.layout " + show(json(p.layout)) + " sums to " + text(sum) + " blocks but model.n_blocks is " +
                   text(c.model.n_blocks));
    }
  }
  if (p.matmul == ops::MatmulPrecision::tf32 && p.device != Device::cuda) {
    conflict(o, {"parallel.matmul", "parallel.device"},
             "parallel.matmul \"tf32\" uses GPU tensor cores but parallel.device is \"cpu\"; set parallel.device to "
             "\"cuda\" or parallel.matmul to \"fp32\"");
  }
  if (c.train.precision == Precision::bf16 && p.device == Device::cuda) {
    conflict(o, {"train.precision", "parallel.device"},
             "train.precision \"bf16\" runs on the CPU only so far (the CUDA bf16 kernels are not written yet); set "
             "parallel.device to \"cpu\" or train.precision to \"fp32\"");
  }
  const std::int64_t mb = c.train.micro_batches;
  if (p.schedule == dist::ScheduleKind::dualpipe) {
    if (p.pp % 2 != 0) {
      conflict(o, {"parallel.pp", "parallel.schedule"},
               "parallel.schedule \"dualpipe\" needs an even parallel.pp, got " + text(p.pp));
    }
    if (mb % 2 != 0 || mb < 2 * p.pp) {
      conflict(o, {"train.micro_batches", "parallel.schedule", "parallel.pp"},
               "parallel.schedule \"dualpipe\" needs train.micro_batches even and >= 2 * parallel.pp = " +
                   text(2 * p.pp) + ", got " + text(mb));
    }
  }
  if (p.schedule == dist::ScheduleKind::dualpipev && mb < 2 * p.pp) {
    conflict(o, {"train.micro_batches", "parallel.schedule", "parallel.pp"},
             "parallel.schedule \"dualpipev\" needs train.micro_batches >= 2 * parallel.pp = " + text(2 * p.pp) +
                 ", got " + text(mb));
  }
}

void check_recompute(const Config& c, const Origins& o) {
  if (c.recompute.mhc && !c.residual.type->keeps_streams()) {
    conflict(o, {"recompute.mhc", "residual.type"},
             "recompute.mhc is true but residual.type \"" + std::string(c.residual.type->name()) +
                 "\" has nothing to recompute; set recompute.mhc to false");
  }
}

}  // namespace

void validate(const Config& c, const Origins& origins) {
  check_key_ranges(c, origins);  // first: the combination checks below divide by validated sizes
  check_sizes(c, origins);       // and multiply them
  check_model(c, origins);
  check_residual(c, origins);
  check_data(c, origins);
  check_train(c, origins);
  check_parallel(c, origins);
  check_recompute(c, origins);
}

}  // namespace mhc::config::detail
