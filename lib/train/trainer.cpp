// The training loop.
#include "train/trainer.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "config/sizes.hpp"
#include "model/flops.hpp"
#include "core/atomic_file.hpp"
#include "core/copy.hpp"
#include "core/device_runtime.hpp"
#ifdef MHC_HAVE_NCCL
#include "dist/communicator_nccl.hpp"
#endif
#include "ops/grad_norm.hpp"
#include "ops/hres_diagnostics.hpp"
#include "train/checkpoint.hpp"
#include "train/lr_schedule.hpp"
#include "train/metrics.hpp"
#include "train/run_info.hpp"

namespace mhc::train {

namespace fs = std::filesystem;

namespace {

LrScheduleParams lr_params(const config::Config& cfg) {
  LrScheduleParams p;
  p.kind = cfg.train.schedule;
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

double validation_loss(const data::Dataset& data, const config::Config& cfg, std::int64_t batch,
                       const std::function<double(std::int32_t* rows)>& forward_loss) {
  const std::int64_t L = cfg.model.seq_len + 1;
  std::vector<std::int32_t> rows(static_cast<std::size_t>(batch * L));
  double sum = 0;
  for (std::int64_t e = 0; e < cfg.train.eval_batches; ++e) {
    for (std::int64_t r = 0; r < batch; ++r)
      data.row(data::Split::val, static_cast<std::uint64_t>(e * batch + r), L, rows.data() + r * L);
    sum += forward_loss(rows.data());
  }
  return sum / static_cast<double>(cfg.train.eval_batches);
}

namespace {

dist::Communicator& world_of(const TrainOptions& opts) { return opts.world != nullptr ? *opts.world : dist::world(); }

}  // namespace

Trainer::Trainer(const config::Config& cfg, TrainOptions opts)
    : cfg_(cfg), opts_(std::move(opts)), world_(world_of(opts_)) {
  check_lr_schedule(lr_params(cfg_));
  MHC_CHECK(!opts_.run_dir.empty(), ConfigError, "no run directory: pass --out RUN_DIR");
  const std::int64_t pp = cfg_.parallel.pp, dp = cfg_.parallel.dp;
  MHC_CHECK(world_.size() == pp * dp, ConfigError, "this job has ", world_.size(), " rank",
            world_.size() == 1 ? "" : "s", " but parallel.pp x parallel.dp = ", pp, " x ", dp, " = ", pp * dp,
            "; launch it with mpirun -np ", pp * dp, " or change parallel.pp / parallel.dp");
  config::check_memory(cfg_, "train", 16, cfg_.train.micro_batch, cfg_.parallel.pp);
  // On a GPU every allocation and op of this thread from here on is ordered on the compute stream.
  device_context_ = std::make_unique<DeviceContext>(cfg_);
  const int rank = world_.rank(), pp_rank = rank % static_cast<int>(pp), dp_rank = rank / static_cast<int>(pp);
  pipe_ = world_.split(dp_rank, pp_rank);
  data_parallel_ = world_.split(pp_rank, dp_rank);
#ifdef MHC_HAVE_NCCL
  if (const DeviceRuntime* gpu = device_context_->runtime.get(); gpu != nullptr && dp > 1)
    gpu_data_parallel_ = dist::make_nccl_communicator(*data_parallel_, gpu->device(),
                                                      static_cast<cudaStream_t>(gpu->comm().native));
#endif
  data_ = data::make_dataset(cfg_);
  pipeline_ = std::make_unique<PipelineExecutor>(cfg_, *pipe_, cfg_.train.seed);
  optimizer_ = std::make_unique<AdamW>(pipeline_->store());
  rows_.resize(static_cast<std::size_t>(cfg_.train.micro_batch * (cfg_.model.seq_len + 1)));
}

Trainer::~Trainer() = default;

void Trainer::fill_rows(data::Split split, std::uint64_t first_row, std::int32_t* rows) const {
  const std::int64_t B = cfg_.train.micro_batch, L = cfg_.model.seq_len + 1;
  for (std::int64_t r = 0; r < B; ++r) data_->row(split, first_row + static_cast<std::uint64_t>(r), L, rows + r * L);
}

// Replica d takes micro-batches d*M .. d*M + M-1 of the step's dp*M: the global batch, and so the loss curve,
// do not depend on how it is split over replicas.
double Trainer::train_step(std::int64_t step, dist::TraceRecorder* trace) {
  const std::int64_t B = cfg_.train.micro_batch, M = cfg_.train.micro_batches, dp = cfg_.parallel.dp;
  const std::int64_t first_mb = step * M * dp + data_parallel_->rank() * M;
  pipeline_->store().zero_grads();
  const RowsFn rows = [&](std::int64_t mb, std::int32_t* out) {
    fill_rows(data::Split::train, static_cast<std::uint64_t>((first_mb + mb) * B), out);
  };
  double loss = pipeline_->forward_backward(rows, 1.0 / static_cast<double>(M * dp), trace);
  if (dp > 1) {
    const std::int64_t start = trace != nullptr ? trace->now_us() : 0;
    sum_data_parallel_gradients();
    data_parallel_->allreduce_sum(&loss, 1);
    if (trace != nullptr) trace->add("allreduce", "allreduce", start, trace->now_us() - start, -1, -1);
  }
  return loss / static_cast<double>(M * dp);
}

// Gradients summed over the replicas: on the GPUs through NCCL when the run has it (one all-reduce per tensor on
// the communication stream, ordered after the backward and before the optimizer on the compute stream); else in
// buckets of about 4 MiB (one message per bucket, not per tensor), staged in host memory for GPU gradients.
void Trainer::sum_data_parallel_gradients() {
  if (gpu_data_parallel_) {
    for (const auto& spec : pipeline_->store().specs()) {
      const Tensor g = pipeline_->store().grad(spec.name);
      gpu_data_parallel_->allreduce_sum(g.ptr<float>(), g.numel());
    }
    return;
  }
  constexpr std::int64_t kBucketFloats = std::int64_t{1} << 20;
  std::vector<float> bucket;
  std::vector<Tensor> members;
  std::int64_t pending = 0;  // elements of members
  auto slice = [&](std::size_t offset, const Tensor& g) { return Tensor(bucket.data() + offset, DType::f32, g.shape); };
  auto flush = [&] {
    if (members.empty()) return;
    bucket.resize(static_cast<std::size_t>(pending));
    std::size_t offset = 0;
    for (const Tensor& g : members) {
      copy_tensor(slice(offset, g), g);
      offset += static_cast<std::size_t>(g.numel());
    }
    data_parallel_->allreduce_sum(bucket.data(), static_cast<std::int64_t>(bucket.size()));
    offset = 0;
    for (const Tensor& g : members) {
      copy_tensor(g, slice(offset, g));
      offset += static_cast<std::size_t>(g.numel());
    }
    members.clear();
    pending = 0;
  };
  for (const auto& spec : pipeline_->store().specs()) {
    members.push_back(pipeline_->store().grad(spec.name));
    pending += members.back().numel();
    if (pending >= kBucketFloats) flush();
  }
  flush();
}

nlohmann::json Trainer::diagnostics() {
  fill_rows(data::Split::val, 0, rows_.data());
  pipeline_->forward_loss(rows_.data());
  const std::vector<HostTensor> h_res = pipeline_->gather_h_res();
  nlohmann::json rec = nlohmann::json::object();
  if (pipe_->rank() != 0) return rec;
  if (!cfg_.residual.type->keeps_streams()) {  // H_res = 1 in every layer
    rec["amax_fwd"] = rec["amax_bwd"] = rec["amax_fwd_max"] = rec["amax_bwd_max"] = 1.0;
    rec["hres_dist_identity"] = 0.0;
    return rec;
  }
  std::vector<Tensor> h;
  for (const auto& t : h_res) h.push_back(t.view());
  const auto d = ops::hres_diagnostics(h);
  rec["amax_fwd"] = d.composite_forward_gain.mean;
  rec["amax_bwd"] = d.composite_backward_gain.mean;
  rec["amax_fwd_max"] = d.composite_forward_gain.max;
  rec["amax_bwd_max"] = d.composite_backward_gain.max;
  rec["layer_fwd_gain"] = gains(d, true);
  rec["layer_bwd_gain"] = gains(d, false);
  rec["hres_dist_identity"] = d.identity_distance;
  return rec;
}

// One checkpoint of the whole model, whatever the layout: pipeline rank 0 of replica 0 gathers every parameter
// and its AdamW moments from their owners and writes them under their global names.
std::string Trainer::save(std::int64_t step) {
  if (data_parallel_->rank() != 0) return "";
  std::vector<std::string> names;
  for (const auto& s : model::model_parameter_specs(cfg_)) names.push_back(s.name);
  const auto state = optimizer_->state_tensors();
  auto& store = pipeline_->store();
  const auto params = pipeline_->gather_to_first(names, [&](const std::string& n) { return store.param(n); });
  const auto m = pipeline_->gather_to_first(names, [&](const std::string& n) { return state.at("m." + n); });
  const auto v = pipeline_->gather_to_first(names, [&](const std::string& n) { return state.at("v." + n); });
  if (!leader()) return "";
  CheckpointData data;
  data.step = step;
  for (std::size_t k = 0; k < names.size(); ++k) {
    data.model.push_back({names[k], params[k].view()});
    data.optimizer.push_back({"m." + names[k], m[k].view()});
    data.optimizer.push_back({"v." + names[k], v[k].view()});
  }
  data.state = {{"adam_updates", optimizer_->updates()},
                {"consecutive_skips", consecutive_skips_},
                {"identity", identity_of(cfg_)},
                {"config", config::to_json(cfg_)}};
  return save_checkpoint(opts_.run_dir, data, cfg_.checkpoint.keep);
}

// Every rank reads the checkpoint and takes the tensors of the parameters it holds, so a checkpoint of any
// pipeline layout resumes in any other.
std::int64_t Trainer::restore() {
  const LoadedCheckpoint ck = load_checkpoint(opts_.run_dir);
  MHC_CHECK(ck.state.contains("identity") && ck.state["identity"] == identity_of(cfg_), ConfigError,
            "checkpoint '", ck.dir, "' was written for another model/residual/data config than this run's; resume with ",
            "the run's own config (", (fs::path(opts_.run_dir) / "config.resolved.json").string(), ")");
  std::vector<io::NamedTensor> params, state;
  auto& store = pipeline_->store();
  for (const auto& s : store.specs()) params.push_back({s.name, store.param(s.name)});
  for (const auto& [name, t] : optimizer_->state_tensors()) state.push_back({name, t});
  const bool subset = store.specs().size() < model::model_parameter_specs(cfg_).size();  // a pipeline rank
  const std::string state_file = (fs::path(ck.dir) / "state.json").string();
  const std::int64_t updates = state_integer(ck.state, "adam_updates", state_file);
  const std::int64_t skips = state_integer(ck.state, "consecutive_skips", state_file);
  restore_tensors(ck.model, params, subset);
  restore_tensors(ck.optimizer, state, subset);
  optimizer_->set_updates(updates);
  consecutive_skips_ = skips;
  return ck.step;
}

TrainResult Trainer::run() {
  std::error_code ec;
  fs::create_directories(opts_.run_dir, ec);
  MHC_CHECK(!ec, IoError, "cannot create the run directory '", opts_.run_dir, "': ", ec.message());
  std::int64_t step = opts_.resume ? restore() : 0;
  const fs::path marker = fs::path(opts_.run_dir) / kStoppedMarker;
  if (leader()) {
    write_file_atomic((fs::path(opts_.run_dir) / "config.resolved.json").string(),
                      config::to_json(cfg_).dump(2) + "\n");
    fs::remove(marker, ec);
    MHC_CHECK(!ec, IoError, "cannot remove '", marker.string(), "' of the previous stop: ", ec.message());
  }
  const std::string precision = config::to_string(cfg_.train.precision);
  const RunInfo info =
      leader() ? record_launch(opts_.run_dir, opts_.resume, step, precision, opts_.notices) : RunInfo{};
  std::unique_ptr<MetricsWriter> metrics;
  if (leader()) metrics = std::make_unique<MetricsWriter>(opts_.run_dir, opts_.resume ? step : -1);
  const bool console = opts_.console && leader();
  const auto lr_p = lr_params(cfg_);
  const auto& t = cfg_.train;
  const std::int64_t tokens_per_step = t.micro_batch * t.micro_batches * cfg_.parallel.dp * cfg_.model.seq_len;
  if (console)
    spdlog::info("{}: {} parameters, {} | {} steps of {} tokens | {}{}{}{}", opts_.run_dir,
                 model::count_parameters(model::model_parameter_specs(cfg_)), data_->describe(), t.steps,
                 tokens_per_step, config::to_string(t.precision),
                 device_context_->runtime ? " | " + device_context_->runtime->describe() : "",
                 world_.size() > 1 ? fmt::format(" | pp {} x dp {} ({})", cfg_.parallel.pp, cfg_.parallel.dp,
                                                 dist::to_string(cfg_.parallel.schedule))
                                   : "",
                 opts_.resume ? " | resumed at step " + std::to_string(step) : "");
  if (console)
    for (const auto& notice : opts_.notices) spdlog::warn("{}", notice);
  const double flops_per_token = model::flops_per_token(cfg_);
  double interval_loss = 0, interval_s = 0;  // since the previous metrics record
  std::int64_t interval_steps = 0;

  TrainResult result;
  dist::TraceRecorder trace;
  trace.start_epoch(world_);
  const std::int64_t trace_from = std::max(step, t.steps - opts_.trace_steps);
  const auto run_start = std::chrono::steady_clock::now();
  const std::int64_t first_step = step;
  while (step < t.steps) {
    const auto start = std::chrono::steady_clock::now();
    const double lr = learning_rate(step, lr_p);
    dist::TraceRecorder* step_trace = opts_.trace_steps > 0 && step >= trace_from ? &trace : nullptr;
    const std::int64_t step_start_us = trace.now_us();
    const double loss = train_step(step, step_trace);
    double norm_squared = pipeline_->owned_grad_norm_squared();
    pipe_->allreduce_sum(&norm_squared, 1);
    const double grad_norm = std::sqrt(norm_squared);
    const bool finite = std::isfinite(loss) && std::isfinite(grad_norm);
    if (finite) {
      consecutive_skips_ = 0;
      auto& store = pipeline_->store();
      if (t.grad_clip > 0 && grad_norm > t.grad_clip)
        for (const auto& s : store.specs()) ops::scale_inplace(store.grad(s.name), t.grad_clip / grad_norm);
      optimizer_->step(store, lr, t);
    } else {
      ++consecutive_skips_;
      if (leader())
        spdlog::warn("step {}: non-finite loss {} or gradient norm {}; update skipped", step + 1, loss, grad_norm);
      MHC_CHECK(consecutive_skips_ < opts_.max_consecutive_skips, Error, consecutive_skips_,
                " consecutive steps with a non-finite loss or gradient norm (last loss ", loss, ", grad norm ",
                grad_norm, "); stopping. The newest checkpoint in '", opts_.run_dir, "/checkpoints' is intact");
    }
    if (step_trace != nullptr)
      trace.add("step " + std::to_string(step + 1), "step", step_start_us, trace.now_us() - step_start_us);
    ++step;
    const double step_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (opts_.step_ms != nullptr) opts_.step_ms->store(std::llround(step_s * 1e3));
    result.last_loss = loss;
    interval_loss += loss;
    interval_s += step_s;
    ++interval_steps;

    const bool log = step % t.log_every == 0 || step == t.steps || step == 1 || !finite;
    const bool eval = t.eval_every > 0 && (step % t.eval_every == 0 || step == t.steps);
    const bool diag = t.diag_every > 0 && (step % t.diag_every == 0 || step == t.steps);
    if (log || eval || diag) {
      // tok/s and TFLOP/s over the training steps since the previous record (evaluation and diagnostics excluded).
      const double tok_s = static_cast<double>(tokens_per_step * interval_steps) / interval_s;
      nlohmann::json rec{{"step", step},
                         {"tokens", step * tokens_per_step},
                         {"loss", loss},
                         {"loss_mean", interval_loss / static_cast<double>(interval_steps)},
                         {"lr", lr},
                         {"grad_norm", grad_norm},
                         {"step_ms", step_s * 1e3},
                         {"tok_s", tok_s},
                         {"tflops", tok_s * flops_per_token * 1e-12},
                         {"elapsed_s", std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count()},
                         {"time", utc_now_iso8601()},
                         {"run_id", info.run_id}};
      interval_loss = interval_s = 0;
      interval_steps = 0;
      if (!finite) rec["skipped"] = true;
      if (eval) {
        const dist::ScopedSpan span(step_trace, "eval", "eval");
        rec["val_loss"] = validation_loss(*data_, cfg_, cfg_.train.micro_batch,
                                          [&](std::int32_t* rows) { return pipeline_->forward_loss(rows); });
        if (console && !log) spdlog::info("step {}/{} | val {:.4f}", step, t.steps, rec["val_loss"].get<double>());
      }
      if (diag) {
        const dist::ScopedSpan span(step_trace, "diagnostics", "diagnostics");
        rec.update(diagnostics());
      }
      if (metrics) metrics->write(rec);
      if (console && log) {
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
        const double eta = elapsed / static_cast<double>(step - first_step) * static_cast<double>(t.steps - step);
        spdlog::info("step {}/{} | loss {:.4f} (mean {:.4f}){} | lr {:.2e} | gnorm {:.3f} | {:.0f} tok/s | "
                     "{:.3g} TFLOP/s | ETA {}",
                     step, t.steps, loss, rec["loss_mean"].get<double>(),
                     eval ? fmt::format(" | val {:.4f}", rec["val_loss"].get<double>()) : "", lr, grad_norm, tok_s,
                     rec["tflops"].get<double>(), format_eta(eta));
      }
    }
    if (cfg_.checkpoint.every > 0 && step % cfg_.checkpoint.every == 0 && step < t.steps) {
      const dist::ScopedSpan span(step_trace, "checkpoint", "checkpoint");
      save(step);
    }
    // Every rank stops at the same step: a signal may reach the ranks at different times.
    double stop = opts_.stop_flag != nullptr && opts_.stop_flag->load() ? 1.0 : 0.0;
    if (world_.size() > 1) world_.allreduce_sum(&stop, 1);
    if (stop > 0) {
      result.stopped_early = step < t.steps;
      break;
    }
  }
  const std::string dir = save(step);
  if (console) spdlog::info("checkpoint {}", dir);
  if (leader() && result.stopped_early) {
    const nlohmann::json stopped{{"step", step}, {"checkpoint", dir}, {"steps", t.steps}};
    write_file_atomic(marker.string(), stopped.dump(2) + "\n");
  }
  if (opts_.trace_steps > 0) {
    trace.write_chrome_trace(world_, (fs::path(opts_.run_dir) / "trace.json").string());
  }
  result.steps_done = step;
  return result;
}

}  // namespace mhc::train
