// The training loop.
#include "train/trainer.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "ops/grad_norm.hpp"
#include "ops/hres_diagnostics.hpp"
#include "train/checkpoint.hpp"
#include "train/lr_schedule.hpp"
#include "train/metrics.hpp"

namespace mhc::train {

namespace fs = std::filesystem;

namespace {

LrScheduleParams lr_params(const config::Config& cfg) {
  LrScheduleParams p;
  p.kind = cfg.train.schedule == config::LrSchedule::cosine ? LrScheduleParams::Kind::cosine
           : cfg.train.schedule == config::LrSchedule::step ? LrScheduleParams::Kind::step
                                                            : LrScheduleParams::Kind::constant;
  p.lr = cfg.train.lr;
  p.min_lr = cfg.train.min_lr;
  p.warmup = cfg.train.warmup;
  p.total_steps = cfg.train.steps;
  return p;
}

std::vector<double> gains(const ops::HresDiagnostics& d, bool forward) {
  std::vector<double> g;
  for (const auto& l : d.layers) g.push_back(forward ? l.forward_gain.mean : l.backward_gain.mean);
  return g;
}

// The sections a checkpoint must agree on to be resumed (train.steps and logging may change).
nlohmann::json identity_of(const config::Config& cfg) {
  const auto j = config::to_json(cfg);
  return {{"model", j["model"]}, {"residual", j["residual"]}, {"data", j["data"]}};
}

std::string format_eta(double seconds) {
  const auto s = static_cast<std::int64_t>(seconds);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  return buf;
}

}  // namespace

double validation_loss(model::Model& model, const data::Dataset& data, const config::Config& cfg) {
  const std::int64_t B = model.batch(), L = cfg.model.seq_len + 1;
  std::vector<std::int32_t> rows(static_cast<std::size_t>(B * L));
  double sum = 0;
  for (std::int64_t e = 0; e < cfg.train.eval_batches; ++e) {
    for (std::int64_t r = 0; r < B; ++r)
      data.row(data::Split::val, static_cast<std::uint64_t>(e * B + r), L, rows.data() + r * L);
    sum += model.forward_loss(Tensor(rows.data(), DType::i32, Shape{B, L}));
  }
  return sum / static_cast<double>(cfg.train.eval_batches);
}

Trainer::Trainer(const config::Config& cfg, TrainOptions opts)
    : cfg_(cfg),
      opts_(std::move(opts)),
      data_(data::make_dataset(cfg)),
      model_(std::make_unique<model::Model>(cfg, DType::f32, cfg.train.seed, cfg.train.micro_batch)),
      optimizer_(std::make_unique<AdamW>(model_->store())),
      rows_(static_cast<std::size_t>(cfg.train.micro_batch * (cfg.model.seq_len + 1))) {
  check_lr_schedule(lr_params(cfg_));
  MHC_CHECK(!opts_.run_dir.empty(), ConfigError, "no run directory: pass --out RUN_DIR");
  // Not built yet: say so instead of silently training something else.
  MHC_CHECK(cfg_.parallel.pp == 1 && cfg_.parallel.dp == 1, ConfigError, "parallel.pp = ", cfg_.parallel.pp,
            ", parallel.dp = ", cfg_.parallel.dp, ": this build trains on one process only; set both to 1");
  MHC_CHECK(cfg_.parallel.device == config::DeviceKind::cpu, ConfigError,
            "parallel.device \"cuda\": this build's trainer runs on the CPU only; set parallel.device to \"cpu\"");
}

Trainer::~Trainer() = default;

void Trainer::fill_rows(data::Split split, std::uint64_t first_row) {
  const std::int64_t B = cfg_.train.micro_batch, L = cfg_.model.seq_len + 1;
  for (std::int64_t r = 0; r < B; ++r)
    data_->row(split, first_row + static_cast<std::uint64_t>(r), L, rows_.data() + r * L);
}

double Trainer::train_step(std::int64_t step) {
  const std::int64_t B = cfg_.train.micro_batch, M = cfg_.train.micro_batches, L = cfg_.model.seq_len + 1;
  model_->store().zero_grads();
  double loss = 0;
  for (std::int64_t m = 0; m < M; ++m) {
    fill_rows(data::Split::train, static_cast<std::uint64_t>((step * M + m) * B));
    loss += model_->forward_backward(Tensor(rows_.data(), DType::i32, Shape{B, L}), 1.0 / static_cast<double>(M));
  }
  return loss / static_cast<double>(M);
}

double Trainer::evaluate() { return validation_loss(*model_, *data_, cfg_); }

std::string Trainer::save(std::int64_t step) {
  CheckpointData data;
  data.step = step;
  for (const auto& s : model_->store().specs()) data.model.push_back({s.name, model_->store().param(s.name)});
  for (const auto& [name, t] : optimizer_->state_tensors()) data.optimizer.push_back({name, t});
  data.state = {{"adam_updates", optimizer_->updates()},
                {"consecutive_skips", consecutive_skips_},
                {"identity", identity_of(cfg_)},
                {"config", config::to_json(cfg_)}};
  return save_checkpoint(opts_.run_dir, data, cfg_.checkpoint.keep);
}

std::int64_t Trainer::restore() {
  const LoadedCheckpoint ck = load_checkpoint(opts_.run_dir);
  MHC_CHECK(ck.state.contains("identity") && ck.state["identity"] == identity_of(cfg_), ConfigError,
            "checkpoint '", ck.dir, "' was written for another model/residual/data config than this run's; resume with ",
            "the run's own config (", (fs::path(opts_.run_dir) / "config.resolved.json").string(), ")");
  std::vector<io::NamedTensor> params, state;
  for (const auto& s : model_->store().specs()) params.push_back({s.name, model_->store().param(s.name)});
  for (const auto& [name, t] : optimizer_->state_tensors()) state.push_back({name, t});
  restore_tensors(ck.model, params, false);
  restore_tensors(ck.optimizer, state, false);
  optimizer_->set_updates(ck.state.at("adam_updates").get<std::int64_t>());
  consecutive_skips_ = ck.state.at("consecutive_skips").get<std::int64_t>();
  return ck.step;
}

TrainResult Trainer::run() {
  fs::create_directories(opts_.run_dir);
  std::int64_t step = opts_.resume ? restore() : 0;
  write_file_atomic((fs::path(opts_.run_dir) / "config.resolved.json").string(), config::to_json(cfg_).dump(2) + "\n");
  MetricsWriter metrics(opts_.run_dir, opts_.resume ? step : -1);
  const auto lr_p = lr_params(cfg_);
  const auto& t = cfg_.train;
  const std::int64_t tokens_per_step = t.micro_batch * t.micro_batches * cfg_.model.seq_len;
  if (opts_.console)
    spdlog::info("{}: {} parameters, {} | {} steps of {} tokens{}", opts_.run_dir,
                 model::count_parameters(model_->store().specs()), data_->describe(), t.steps, tokens_per_step,
                 opts_.resume ? " | resumed at step " + std::to_string(step) : "");

  TrainResult result;
  const auto run_start = std::chrono::steady_clock::now();
  const std::int64_t first_step = step;
  while (step < t.steps) {
    const auto start = std::chrono::steady_clock::now();
    const double lr = learning_rate(step, lr_p);
    const double loss = train_step(step);
    std::vector<Tensor> grads;
    for (const auto& s : model_->store().specs()) grads.push_back(model_->store().grad(s.name));
    const double grad_norm = std::sqrt(ops::grad_norm_squared(grads));
    const bool finite = std::isfinite(loss) && std::isfinite(grad_norm);
    if (finite) {
      consecutive_skips_ = 0;
      if (t.grad_clip > 0 && grad_norm > t.grad_clip)
        for (auto& g : grads) ops::scale_inplace(g, t.grad_clip / grad_norm);
      optimizer_->step(model_->store(), lr, t);
    } else {
      ++consecutive_skips_;
      spdlog::warn("step {}: non-finite loss {} or gradient norm {}; update skipped", step + 1, loss, grad_norm);
      MHC_CHECK(consecutive_skips_ < opts_.max_consecutive_skips, Error, consecutive_skips_,
                " consecutive steps with a non-finite loss or gradient norm (last loss ", loss, ", grad norm ",
                grad_norm, "); stopping. The newest checkpoint in '", opts_.run_dir, "/checkpoints' is intact");
    }
    ++step;
    const double step_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result.last_loss = loss;

    const bool log = step % t.log_every == 0 || step == t.steps || step == 1 || !finite;
    const bool eval = t.eval_every > 0 && (step % t.eval_every == 0 || step == t.steps);
    const bool diag = t.diag_every > 0 && (step % t.diag_every == 0 || step == t.steps);
    if (log || eval || diag) {
      nlohmann::json rec{{"step", step},      {"tokens", step * tokens_per_step}, {"loss", loss},
                         {"lr", lr},          {"grad_norm", grad_norm},           {"step_ms", step_s * 1e3},
                         {"tok_s", static_cast<double>(tokens_per_step) / step_s}};
      if (!finite) rec["skipped"] = true;
      if (eval) rec["val_loss"] = evaluate();
      if (diag) {
        fill_rows(data::Split::val, 0);
        model_->forward_loss(Tensor(rows_.data(), DType::i32, Shape{t.micro_batch, cfg_.model.seq_len + 1}));
        const auto h = model_->last_h_res();
        if (!h.empty()) {
          const auto d = ops::hres_diagnostics(h);
          rec["amax_fwd"] = d.composite_forward_gain.mean;
          rec["amax_bwd"] = d.composite_backward_gain.mean;
          rec["amax_fwd_max"] = d.composite_forward_gain.max;
          rec["amax_bwd_max"] = d.composite_backward_gain.max;
          rec["layer_fwd_gain"] = gains(d, true);
          rec["layer_bwd_gain"] = gains(d, false);
          rec["hres_dist_identity"] = d.identity_distance;
        } else {  // residual: H_res = 1 in every layer
          rec["amax_fwd"] = rec["amax_bwd"] = rec["amax_fwd_max"] = rec["amax_bwd_max"] = 1.0;
          rec["hres_dist_identity"] = 0.0;
        }
      }
      metrics.write(rec);
      if (opts_.console && log) {
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
        const double eta = elapsed / static_cast<double>(step - first_step) * static_cast<double>(t.steps - step);
        spdlog::info("step {}/{} | loss {:.4f}{} | lr {:.2e} | gnorm {:.3f} | {:.0f} tok/s | ETA {}", step, t.steps,
                     loss, eval ? fmt::format(" | val {:.4f}", rec["val_loss"].get<double>()) : "", lr, grad_norm,
                     rec["tok_s"].get<double>(), format_eta(eta));
      }
    }
    if (cfg_.checkpoint.every > 0 && step % cfg_.checkpoint.every == 0 && step < t.steps) save(step);
    if (opts_.stop_flag != nullptr && opts_.stop_flag->load()) {
      result.stopped_early = step < t.steps;
      break;
    }
  }
  const std::string dir = save(step);
  if (opts_.console) spdlog::info("checkpoint {}", dir);
  result.steps_done = step;
  return result;
}

}  // namespace mhc::train
