// One training step (forward, backward, AdamW) of whole configs on the GPU against the same step on the CPU oracle,
// fp32 mode, for residual, hc and mhc: the tiny configs as they are and gpt2-124m at a short sequence.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/device_runtime.hpp"
#include "config_dir.hpp"
#include "device_support.hpp"
#include "model/model.hpp"
#include "train/optimizer.hpp"

namespace {

using namespace mhc;

config::Config step_config(const std::string& file, const std::vector<std::string>& overrides) {
  return config::load_config(test::config_dir() + "/" + file, overrides);
}

// (B, T + 1) token rows, uniform over the vocabulary (a fixed LCG: the same rows on every run).
std::vector<std::int32_t> random_rows(const config::Config& cfg) {
  const std::int64_t count = cfg.train.micro_batch * (cfg.model.seq_len + 1);
  std::vector<std::int32_t> rows(static_cast<std::size_t>(count));
  std::uint64_t state = 0x9E3779B97F4A7C15ULL;
  for (auto& r : rows) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    r = static_cast<std::int32_t>((state >> 33) % static_cast<std::uint64_t>(cfg.model.vocab_size));
  }
  return rows;
}

struct StepResult {
  double loss = 0;
  std::map<std::string, HostTensor> grads;   // after the backward
  std::map<std::string, HostTensor> params;  // after the AdamW step (not for the f64 reference)
};

Tensor token_rows(const config::Config& cfg, const std::vector<std::int32_t>& rows) {
  return Tensor(const_cast<std::int32_t*>(rows.data()), DType::i32,
                Shape{cfg.train.micro_batch, cfg.model.seq_len + 1});
}

// One step on `device` from the seed's initial parameters; everything is copied back to the host.
StepResult one_step(const config::Config& cfg, Device device, const std::vector<std::int32_t>& rows) {
  model::Model m(cfg, DType::f32, cfg.train.seed, cfg.train.micro_batch, device);
  train::AdamW adam(m.store());
  StepResult out;
  out.loss = m.forward_backward(token_rows(cfg, rows), 1.0);
  for (const auto& s : m.store().specs()) out.grads.emplace(s.name, test::download(m.store().grad(s.name)));
  adam.step(m.store(), cfg.train.lr, cfg.train);
  for (const auto& s : m.store().specs()) out.params.emplace(s.name, test::download(m.store().param(s.name)));
  return out;
}

// The CPU f32 gradients of the same step with the loss weighted by w (not a power of two), each divided by w in
// f64: the same computation in the same order, with its backward rounded afresh (another draw of its f32 noise).
std::map<std::string, HostTensor> reweighted_cpu_gradients(const config::Config& cfg,
                                                           const std::vector<std::int32_t>& rows, double w) {
  model::Model m(cfg, DType::f32, cfg.train.seed, cfg.train.micro_batch, Device::cpu);
  m.forward_backward(token_rows(cfg, rows), w);
  std::map<std::string, HostTensor> grads;
  for (const auto& s : m.store().specs()) {
    const HostTensor g = test::download(m.store().grad(s.name));
    HostTensor unweighted(DType::f64, g.view().shape);
    for (std::int64_t k = 0; k < g.numel(); ++k) unweighted.set(k, g.get(k) / w);
    grads.emplace(s.name, std::move(unweighted));
  }
  return grads;
}

// The exact gradients (up to f64 round-off) of the same step: the CPU in f64 from the f32 initial parameters.
StepResult exact_gradients(const config::Config& cfg, const std::vector<std::int32_t>& rows) {
  model::Model m32(cfg, DType::f32, cfg.train.seed, cfg.train.micro_batch, Device::cpu);
  model::Model m(cfg, DType::f64, cfg.train.seed, cfg.train.micro_batch, Device::cpu);
  for (const auto& s : m.store().specs()) {
    const Tensor from = m32.store().param(s.name), to = m.store().param(s.name);
    for (std::int64_t k = 0; k < to.numel(); ++k) to.ptr<double>()[k] = from.ptr<float>()[k];
  }
  StepResult out;
  out.loss = m.forward_backward(token_rows(cfg, rows), 1.0);
  for (const auto& s : m.store().specs()) out.grads.emplace(s.name, test::download(m.store().grad(s.name)));
  return out;
}

double max_abs(const HostTensor& t) {
  double m = 0;
  for (std::int64_t k = 0; k < t.numel(); ++k) m = std::fmax(m, std::fabs(t.get(k)));
  return m;
}

double max_abs_diff(const HostTensor& a, const HostTensor& b) {
  double m = 0;
  for (std::int64_t k = 0; k < a.numel(); ++k) m = std::fmax(m, std::fabs(a.get(k) - b.get(k)));
  return m;
}

// The first AdamW step moves a parameter by lr * g / (|g| + eps) (plus weight decay, the same on both sides).
double first_update(double g, double eps) { return g / (std::fabs(g) + eps); }

// Loss: relative 1e-4 (the fp32 criterion). Gradients: both backends are compared with the exact (f64)
// gradients of the same step. A tensor passes when the GPU's largest error is within 1e-4 of the tensor's largest
// entry plus 8 times the CPU oracle's own largest f32 error on that tensor. The second term is the f32 noise floor,
// measured rather than assumed: a sum whose terms cancel (the HC read-out weights conn.am sum about 10^5
// products to about 1e-6) carries a round-off error set by the size of its terms, not of its result, and there the
// CPU oracle itself is up to 6e-4 of the largest entry away from the exact value; an implementation with a different
// summation order is as far off, with a different sign. One draw of that error can be small by chance (the CPU's
// 16-lane sums made the tiny-hc conn.am error 5e-12 where the GPU's is 2.5e-10, 1.4e-4 of the entry), so the floor
// is the largest of three draws: the step itself and the step with the loss weighted by 0.7 and by 0.9 (see
// reweighted_cpu_gradients), each rounding the whole backward afresh (8: the ratio of two such independent errors
// stays below it but for rare draws). A wrong or missing term moves a gradient by the size of that term, orders
// of magnitude above both bounds. Parameters after AdamW: the step of each element follows from its own gradient
// (first_update), so the GPU and CPU parameters may differ by exactly what their gradients imply, plus f32
// rounding of the update; near-zero gradients whose sign the round-off flips legitimately move by up to 2 lr.
void check_step(const StepResult& gpu, const StepResult& cpu, const StepResult& exact,
                const std::vector<std::map<std::string, HostTensor>>& cpu_redraws, const config::Config& cfg) {
  INFO("loss gpu " << gpu.loss << " cpu " << cpu.loss << " exact " << exact.loss);
  CHECK(std::fabs(gpu.loss - cpu.loss) <= 1e-4 * std::fabs(cpu.loss));
  const double lr = cfg.train.lr, eps = cfg.train.eps, f32 = std::numeric_limits<float>::epsilon();
  for (const auto& [name, g_cpu] : cpu.grads) {
    const HostTensor &g_gpu = gpu.grads.at(name), &g_exact = exact.grads.at(name);
    double cpu_error = max_abs_diff(g_cpu, g_exact);
    for (const auto& redraw : cpu_redraws) cpu_error = std::fmax(cpu_error, max_abs_diff(redraw.at(name), g_exact));
    const double gpu_error = max_abs_diff(g_gpu, g_exact);
    const double tol = 1e-4 * max_abs(g_exact) + 8 * cpu_error + 1e-12;
    INFO("grad " << name << ": largest entry " << max_abs(g_exact) << ", largest error gpu " << gpu_error << " cpu "
                 << cpu_error << ", tolerance " << tol);
    CHECK(gpu_error <= tol);
    const HostTensor &p_cpu = cpu.params.at(name), &p_gpu = gpu.params.at(name);
    std::int64_t failures = 0;
    for (std::int64_t k = 0; k < p_cpu.numel(); ++k) {
      const double implied = lr * std::fabs(first_update(g_gpu.get(k), eps) - first_update(g_cpu.get(k), eps));
      const double p_tol = implied + 4 * f32 * (std::fabs(p_cpu.get(k)) + lr);
      if (!(std::fabs(p_gpu.get(k) - p_cpu.get(k)) <= p_tol) && failures++ < 5)
        UNSCOPED_INFO("param " << name << "[" << k << "]: " << p_gpu.get(k) << " vs " << p_cpu.get(k));
    }
    INFO("param " << name << ": " << failures << " elements off");
    CHECK(failures == 0);
  }
}

void compare_step(const config::Config& cfg) {
  const std::vector<std::int32_t> rows = random_rows(cfg);
  const StepResult cpu = one_step(cfg, Device::cpu, rows);
  const StepResult exact = exact_gradients(cfg, rows);
  std::vector<std::map<std::string, HostTensor>> cpu_redraws;
  for (const double w : {0.7, 0.9}) cpu_redraws.push_back(reweighted_cpu_gradients(cfg, rows, w));
  DeviceRuntime runtime(0);
  StreamGuard on_compute(runtime.compute());
  const StepResult gpu = one_step(cfg, Device::cuda, rows);
  check_step(gpu, cpu, exact, cpu_redraws, cfg);
}

}  // namespace

// Every registered connection kind on configs/tiny-mhc.json (tiny-residual.json and tiny-hc.json are that file
// with another residual.type), without and (where the kind has state to recompute) with selective recomputation:
// two test cases, so that the simulator runs them side by side (tests/cuda/CMakeLists.txt). Two sequences of the
// full length instead of the config's eight: every kernel and every grid shape along the sequence is the same, and
// the simulator, whose time grows with the tokens, runs the step four times faster (CI's time budget).
void compare_tiny_steps(bool recompute) {
  for (const model::ConnectionType kind : model::connection_kinds()) {
    if (recompute && !kind->keeps_streams()) continue;
    SECTION(std::string(kind->name())) {
      compare_step(step_config("tiny-mhc.json", {"residual.type=" + std::string(kind->name()),
                                                 "residual.n_streams=" + std::to_string(kind->default_streams()),
                                                 std::string("recompute.mhc=") + (recompute ? "true" : "false"),
                                                 "train.micro_batch=2"}));
    }
  }
}

TEST_CASE("one training step of the tiny configs matches the CPU step", "[cuda][step]") { compare_tiny_steps(false); }

TEST_CASE("one training step of the tiny configs with selective recomputation matches the CPU step",
          "[cuda][step][step_recompute]") {
  compare_tiny_steps(true);
}

TEST_CASE("one training step of gpt2-124m matches the CPU step", "[cuda][step][gpt2]") {
  for (const model::ConnectionType kind : model::connection_kinds()) {
    SECTION(std::string(kind->name())) {
      // 32 tokens keep the CPU oracle's step to seconds; the widths, vocabulary and depth are gpt2-124m's.
      compare_step(step_config("gpt2-124m-mhc.json", {"residual.type=" + std::string(kind->name()),
                                                      "residual.n_streams=" + std::to_string(kind->default_streams()),
                                                      "model.seq_len=32", "train.micro_batch=1",
                                                      "data.source=synthetic", "data.path=", "parallel.device=cpu"}));
    }
  }
}

TEST_CASE("DeviceRuntime names a bad device index", "[cuda][runtime]") {
  const int count = cuda_device_count();
  REQUIRE(count > 0);
  CHECK_THROWS_WITH(DeviceRuntime(count), Catch::Contains("CUDA device " + std::to_string(count) + " out of range"));
  DeviceRuntime runtime(0);
  CHECK(runtime.describe().find("device 0 of") != std::string::npos);
  runtime.order(runtime.compute(), runtime.comm());
  runtime.synchronize();
}
