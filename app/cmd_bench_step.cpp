// `mhc-train bench step`: training-step throughput of a config (forward + backward + AdamW on one process), as
// tokens/s and achieved GFLOP/s against the sgemm rate measured in the same run.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "core/host_tensor.hpp"
#include "core/rng.hpp"
#include "data/dataset.hpp"
#include "model/model.hpp"
#include "ops/matmul.hpp"
#include "train/optimizer.hpp"

namespace mhc::app {

namespace {

struct StepBenchFlags {
  CommonFlags common;
  int steps = 5;
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

// Median GFLOP/s of a 1024^3 f32 GEMM (the machine's sgemm rate, measured beside the step).
double sgemm_gflops(int repeats) {
  const std::int64_t n = 1024;
  HostTensor a(DType::f32, Shape{n, n}), b(DType::f32, Shape{n, n}), c(DType::f32, Shape{n, n});
  fill_normal(a, 1, "a", 0, 1);
  fill_normal(b, 1, "b", 0, 1);
  std::vector<double> t;
  for (int r = 0; r <= repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    ops::matmul(c, a, b, false, false);
    if (r > 0) t.push_back(seconds_since(t0));
  }
  return 2.0 * static_cast<double>(n * n * n) / median(t) * 1e-9;
}

// Matmul FLOPs per trained token: 6 x (parameters used in matrix products) + attention 12 * layers * C * T
// (the CPU attention computes the full T x T square before masking).
double flops_per_token(const config::Config& cfg, const model::Model& m) {
  std::int64_t matmul_params = 0;
  for (const auto& s : m.store().specs())
    if (s.shape.rank == 2 && s.name != "embed.weight") matmul_params += s.shape.numel();
  if (cfg.model.tie_embeddings) matmul_params += cfg.model.vocab_size * cfg.model.d_model;
  return 6.0 * static_cast<double>(matmul_params) +
         12.0 * static_cast<double>(cfg.model.n_blocks * cfg.model.d_model * cfg.model.seq_len);
}

void run_step_bench(const StepBenchFlags& f) {
  const config::Config cfg = load_config_from_flags(f.common);
  const auto& t = cfg.train;
  model::Model model(cfg, DType::f32, t.seed, t.micro_batch);
  train::AdamW adam(model.store());
  const auto data = data::make_dataset(cfg);
  const std::int64_t B = t.micro_batch, L = cfg.model.seq_len + 1;
  std::vector<std::int32_t> rows(static_cast<std::size_t>(B * L));
  std::vector<double> step_s, cpu_s;
  for (int s = 0; s <= f.steps; ++s) {  // step 0 is the warm-up
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = process_cpu_seconds();
    model.store().zero_grads();
    for (std::int64_t m = 0; m < t.micro_batches; ++m) {
      for (std::int64_t r = 0; r < B; ++r)
        data->row(data::Split::train, static_cast<std::uint64_t>((s * t.micro_batches + m) * B + r), L,
                  rows.data() + r * L);
      model.forward_backward(Tensor(rows.data(), DType::i32, Shape{B, L}), 1.0 / static_cast<double>(t.micro_batches));
    }
    adam.step(model.store(), t.lr, t);
    if (s > 0) {
      step_s.push_back(seconds_since(t0));
      cpu_s.push_back(process_cpu_seconds() - c0);
    }
  }
  const double tokens = static_cast<double>(B * t.micro_batches * cfg.model.seq_len);
  const double s_med = median(step_s), fpt = flops_per_token(cfg, model);
  const double achieved = tokens * fpt / s_med * 1e-9, sgemm = sgemm_gflops(7);
  const nlohmann::json out{{"config", f.common.config_path.empty() ? "default" : f.common.config_path},
                           {"residual", config::to_string(cfg.residual.type)},
                           {"n_streams", cfg.residual.n_streams},
                           {"d_model", cfg.model.d_model},
                           {"tokens_per_step", tokens},
                           {"steps_timed", f.steps},
                           {"step_ms_median", s_med * 1e3},
                           {"step_cpu_ms_median", median(cpu_s) * 1e3},
                           {"tok_s", tokens / s_med},
                           {"flops_per_token", fpt},
                           {"achieved_gflops", achieved},
                           {"sgemm_gflops_1024", sgemm},
                           {"fraction_of_sgemm", achieved / sgemm},
                           {"activation_bytes", model.activation_bytes()}};
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
  step->callback([f] { run_step_bench(*f); });
}

}  // namespace mhc::app
