// `mhc-train bench step`: training-step throughput of a config (forward + backward + AdamW on one process, on the
// CPU or, with parallel.device "cuda", the GPU), as tokens/s and achieved GFLOP/s against the f32 GEMM rate of the
// same device measured in the same run; or, with --ab-recompute, the step
// time with selective recomputation against without, both in one process.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "config/sizes.hpp"
#include "gemm_report.hpp"
#include "core/copy.hpp"
#include "core/device_runtime.hpp"
#include "core/host_tensor.hpp"
#include "core/rng.hpp"
#include "data/dataset.hpp"
#include "model/flops.hpp"
#include "model/model.hpp"
#include "ops/matmul.hpp"
#include "train/device_context.hpp"
#include "train/optimizer.hpp"

namespace mhc::app {

namespace {

struct StepBenchFlags {
  CommonFlags common;
  int steps = 5;
  bool ab_recompute = false;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU seconds of the whole process (every thread) so far: less disturbed than wall time on a shared machine.
double process_cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The edge of the square GEMM that measures the machine's f32 matmul rate beside the step: big enough to saturate
// the device.
std::int64_t gemm_edge(const DeviceRuntime* gpu) { return gpu != nullptr ? 4096 : 1024; }

// Median GFLOP/s of an n^3 f32 GEMM through ops::matmul on the step's device (the GPU's time includes a stream
// synchronisation per product).
double sgemm_gflops(int repeats, const DeviceRuntime* gpu) {
  const std::int64_t n = gemm_edge(gpu);
  const Shape square{n, n};
  HostTensor a(DType::f32, square), b(DType::f32, square);
  fill_normal(a, 1, "a", 0, 1);
  fill_normal(b, 1, "b", 0, 1);
  const std::vector<TensorSpec> specs{{"a", DType::f32, square}, {"b", DType::f32, square}, {"c", DType::f32, square}};
  Arena arena("gemm bench", ArenaKind::scratch, gpu != nullptr ? Device::cuda : Device::cpu,
              Arena::bytes_needed(specs));
  const Tensor da = arena.alloc(DType::f32, square, "a"), db = arena.alloc(DType::f32, square, "b"),
               dc = arena.alloc(DType::f32, square, "c");
  copy_tensor(da, a);
  copy_tensor(db, b);
  std::vector<double> t;
  for (int r = 0; r <= repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    ops::matmul(dc, da, db, false, false);
    if (gpu != nullptr) gpu->synchronize();
    if (r > 0) t.push_back(seconds_since(t0));
  }
  return 2.0 * static_cast<double>(n * n * n) / median(t) * 1e-9;
}

// cfg, once its whole model (this process holds all of it) is known to fit this machine's memory.
const config::Config& checked_memory(const config::Config& cfg) {
  config::check_memory(cfg, "bench step", 16, cfg.train.micro_batch, 1);
  return cfg;
}

// One model with its optimiser and data, timed step by step.
class StepRunner {
 public:
  // gpu: the process's GPU context when cfg's device is "cuda" (its stream current), else null.
  StepRunner(const config::Config& cfg, const DeviceRuntime* gpu)
      : cfg_(checked_memory(cfg)),
        gpu_(gpu),
        model_(cfg, DType::f32, cfg.train.seed, cfg.train.micro_batch, cfg.parallel.device),
        adam_(model_.store()),
        data_(data::make_dataset(cfg)),
        rows_(static_cast<std::size_t>(cfg.train.micro_batch * (cfg.model.seq_len + 1))) {}

  // Step s (forward + backward of every micro-batch, AdamW); records its wall and CPU time unless s is 0 (the
  // warm-up); returns the step loss.
  double step(int s) {
    const auto& t = cfg_.train;
    const std::int64_t B = t.micro_batch, L = cfg_.model.seq_len + 1;
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = process_cpu_seconds();
    model_.store().zero_grads();
    double loss = 0;
    for (std::int64_t m = 0; m < t.micro_batches; ++m) {
      for (std::int64_t r = 0; r < B; ++r)
        data_->row(data::Split::train, static_cast<std::uint64_t>((s * t.micro_batches + m) * B + r), L,
                   rows_.data() + r * L);
      loss += model_.forward_backward(Tensor(rows_.data(), DType::i32, Shape{B, L}),
                                      1.0 / static_cast<double>(t.micro_batches));
    }
    adam_.step(model_.store(), t.lr, t);
    if (gpu_ != nullptr) gpu_->synchronize();
    if (s > 0) {
      step_s.push_back(seconds_since(t0));
      cpu_s.push_back(process_cpu_seconds() - c0);
    }
    return loss;
  }
  const model::Model& model() const { return model_; }

  // The recompute work of one backward timed alone (recompute on): after a forward of the last step's rows, every
  // block but the last rebuilt, in the backward's order.
  double recompute_seconds() {
    const std::int64_t B = cfg_.train.micro_batch, L = cfg_.model.seq_len + 1;
    model_.forward_loss(Tensor(rows_.data(), DType::i32, Shape{B, L}));
    const std::int64_t layers = 2 * cfg_.model.n_blocks, Lr = model_.block_layers();
    const auto t0 = std::chrono::steady_clock::now();
    for (std::int64_t b = (layers + Lr - 1) / Lr - 2; b >= 0; --b) model_.layer_inputs(b);
    if (gpu_ != nullptr) gpu_->synchronize();
    return seconds_since(t0);
  }
  const DeviceRuntime* gpu() const { return gpu_; }

  std::vector<double> step_s, cpu_s;

 private:
  config::Config cfg_;
  const DeviceRuntime* gpu_;
  model::Model model_;
  train::AdamW adam_;
  std::unique_ptr<data::Dataset> data_;
  std::vector<std::int32_t> rows_;
};

std::vector<double> ratios(const std::vector<double>& num, const std::vector<double>& den) {
  std::vector<double> r;
  for (std::size_t k = 0; k < num.size(); ++k) r.push_back(num[k] / den[k]);
  return r;
}

void run_step_bench(const StepBenchFlags& f) {
  const config::Config cfg = load_config_from_flags(f.common);
  const train::DeviceContext gpu(cfg);
  StepRunner runner(cfg, gpu.runtime.get());
  for (int s = 0; s <= f.steps; ++s) runner.step(s);  // step 0 is the warm-up
  const double tokens = static_cast<double>(cfg.train.micro_batch * cfg.train.micro_batches * cfg.model.seq_len);
  const double s_med = median(runner.step_s), fpt = model::flops_per_token(cfg);
  const double achieved = tokens * fpt / s_med * 1e-9, sgemm = sgemm_gflops(7, runner.gpu());
  const nlohmann::json out{{"config", f.common.config_path.empty() ? "default" : f.common.config_path},
                           {"device", runner.gpu() != nullptr ? runner.gpu()->describe() : "cpu"},
                           {"matmul", config::to_string(cfg.parallel.matmul)},
                           {"precision", config::to_string(cfg.train.precision)},
                           {"residual", std::string(cfg.residual.type->name())},
                           {"n_streams", cfg.residual.n_streams},
                           {"d_model", cfg.model.d_model},
                           {"tokens_per_step", tokens},
                           {"steps_timed", f.steps},
                           {"step_ms_median", s_med * 1e3},
                           {"step_cpu_ms_median", median(runner.cpu_s) * 1e3},
                           {"tok_s", tokens / s_med},
                           {"flops_per_token", fpt},
                           {"achieved_gflops", achieved},
                           {"sgemm_gflops", sgemm},
                           {"sgemm_edge", gemm_edge(runner.gpu())},
                           {"fraction_of_sgemm", achieved / sgemm},
                           {"activation_bytes", runner.model().activation_bytes()},
                           {"cpu_gemm_library", gemm_library_json()}};
  std::cout << out.dump(2) << "\n";
}

// recompute.mhc off and on in one process, step by step (the first of each pair alternates), on the same data:
// machine noise hits both arms alike. The two runs do the same arithmetic, so their losses must agree bitwise.
void run_recompute_ab(const StepBenchFlags& f) {
  config::Config off_cfg = load_config_from_flags(f.common), on_cfg = off_cfg;
  off_cfg.recompute.mhc = false;
  on_cfg.recompute.mhc = true;
  const train::DeviceContext gpu(off_cfg);
  StepRunner off(off_cfg, gpu.runtime.get()), on(on_cfg, gpu.runtime.get());
  for (int s = 0; s <= f.steps; ++s) {
    const bool off_first = s % 2 == 0;
    const double first = (off_first ? off : on).step(s), second = (off_first ? on : off).step(s);
    MHC_CHECK(first == second, Error, "bench step --ab-recompute: step ", s, " losses differ with recompute on and off");
  }
  std::vector<double> recompute_s;
  for (int s = 0; s < f.steps; ++s) recompute_s.push_back(on.recompute_seconds());
  const auto min = [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); };
  const nlohmann::json out{{"config", f.common.config_path.empty() ? "default" : f.common.config_path},
                           {"steps_timed", f.steps},
                           {"block_layers", on.model().block_layers()},
                           {"off_step_ms_median", median(off.step_s) * 1e3},
                           {"on_step_ms_median", median(on.step_s) * 1e3},
                           {"on_over_off_step_median", median(ratios(on.step_s, off.step_s))},
                           {"off_cpu_ms_median", median(off.cpu_s) * 1e3},
                           {"on_cpu_ms_median", median(on.cpu_s) * 1e3},
                           {"on_over_off_cpu_median", median(ratios(on.cpu_s, off.cpu_s))},
                           {"off_step_ms_min", min(off.step_s) * 1e3},
                           {"on_step_ms_min", min(on.step_s) * 1e3},
                           {"recompute_ms_median", median(recompute_s) * 1e3},
                           {"recompute_ms_min", min(recompute_s) * 1e3},
                           {"off_activation_bytes", off.model().activation_bytes()},
                           {"on_activation_bytes", on.model().activation_bytes()}};
  std::cout << out.dump(2) << "\n";
}

}  // namespace

void register_bench_step(CLI::App& app) {
  auto f = std::make_shared<StepBenchFlags>();
  CLI::App* bench = app.get_subcommand("bench");
  auto* step = bench->add_subcommand("step", "training-step tokens/s and achieved GFLOP/s of a config");
  add_common_flags(step, f->common);
  step->add_option("--steps", f->steps, "timed steps after one warm-up (the median is reported)")
      ->check(CLI::Range(1, 10000));
  step->add_flag("--ab-recompute", f->ab_recompute,
                 "time recompute.mhc off and on in one process, alternating step by step; report both and the median "
                 "per-step ratio");
  step->callback([f] { f->ab_recompute ? run_recompute_ab(*f) : run_step_bench(*f); });
}

}  // namespace mhc::app
