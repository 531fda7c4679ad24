// `mhc-train bench ops`: the CPU GEMM library and its GFLOP/s (square, and on a config's training-step shapes), and
// GB/s of the mHC stream ops, as JSON (medians of repeats).
#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "core/atomic_file.hpp"
#include "gemm_report.hpp"
#include "core/host_tensor.hpp"
#include "core/rng.hpp"
#include "ops/matmul.hpp"
#include "ops/mhc_coeffs.hpp"
#include "ops/mhc_stream.hpp"
#include "ops/sinkhorn.hpp"
#include "ops/stream_mix.hpp"

namespace mhc::app {

namespace {

struct BenchOptions {
  CommonFlags common;  // the config whose training-step GEMMs are timed
  int repeats = 7;
  std::string out_file;
};

// Median wall time in seconds of `repeats` calls of fn, after one warm-up call.
template <typename Fn>
double median_seconds(int repeats, Fn&& fn) {
  fn();
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

HostTensor random_f32(Shape s, const char* name) {
  HostTensor t(DType::f32, s);
  fill_normal(t, 7, name, 0.0, 1.0);
  return t;
}

nlohmann::json bench_matmul(int repeats) {
  nlohmann::json rows = nlohmann::json::array();
  for (std::int64_t n : {256, 512, 1024, 2048}) {
    const HostTensor a = random_f32(Shape{n, n}, "a"), b = random_f32(Shape{n, n}, "b");
    const HostTensor c(DType::f32, Shape{n, n});
    const double s = median_seconds(repeats, [&] { ops::matmul(c, a, b, false, false); });
    const double flops = 2.0 * static_cast<double>(n * n * n);
    rows.push_back({{"m", n}, {"n", n}, {"k", n}, {"median_ms", s * 1e3}, {"gflops", flops / s * 1e-9}});
  }
  return rows;
}

// One mHC residual layer's connection ops (forward and backward) at (tokens N, streams n, width C), f32.
nlohmann::json bench_mhc_ops(std::int64_t N, std::int64_t n, std::int64_t C, int repeats) {
  const std::int64_t K = n * n + 2 * n;
  const HostTensor x = random_f32(Shape{N, n, C}, "x"), y = random_f32(Shape{N, C}, "y");
  const HostTensor logits = random_f32(Shape{N, n, n}, "logits"), h_pre = random_f32(Shape{N, n}, "h_pre");
  const HostTensor h_post = random_f32(Shape{N, n}, "h_post"), h_res(DType::f32, Shape{N, n, n});
  const HostTensor x_out(DType::f32, Shape{N, n, C}), u(DType::f32, Shape{N, C});
  const HostTensor phi = random_f32(Shape{n * C, K}, "phi"), alpha = random_f32(Shape{3}, "alpha");
  const HostTensor bias = random_f32(Shape{K}, "bias"), proj(DType::f32, Shape{N, K}), rstd(DType::f32, Shape{N});
  const HostTensor cpre(DType::f32, Shape{N, n}), cpost(DType::f32, Shape{N, n}), clog(DType::f32, Shape{N, n, n});
  const HostTensor dx(DType::f32, Shape{N, n, C}), dy(DType::f32, Shape{N, C}), dtilde(DType::f32, Shape{N, K});
  const HostTensor dphi(DType::f32, Shape{n * C, K}), dalpha(DType::f32, Shape{3}), dbias(DType::f32, Shape{K});
  const HostTensor dlogits(DType::f32, Shape{N, n, n}), x_coef(DType::f32, Shape{N});
  const HostTensor dh_pre(DType::f32, Shape{N, n}), dh_res(DType::f32, Shape{N, n, n});
  const double f = 4.0;  // bytes per f32
  const double nd = static_cast<double>(n), Cd = static_cast<double>(C), Nd = static_cast<double>(N);

  struct Case {
    const char* op;
    double bytes;  // compulsory traffic: every input read once, every output written once
    std::function<void()> run;
  };
  const std::vector<Case> cases{
      {"mhc_coeffs_forward", Nd * f * (nd * Cd + 2 * nd + nd * nd + K + 1) + f * nd * Cd * K,
       [&] { ops::mhc_coeffs_forward(cpre, cpost, clog, proj, rstd, x, phi, alpha, bias); }},
      {"sinkhorn_forward", Nd * f * 2 * nd * nd, [&] { ops::sinkhorn_forward(h_res, logits, 20); }},
      {"stream_pre_apply_forward", Nd * f * (nd * Cd + nd + Cd), [&] { ops::stream_pre_apply_forward(u, x, h_pre); }},
      {"stream_post_res_forward", Nd * f * ((nd + 1) * Cd + nd * nd + nd + nd * Cd),
       [&] { ops::stream_post_res_forward(x_out, x, y, h_res, h_post); }},
      {"mhc_coeffs_backward_input", Nd * f * (nd * Cd + 2 * nd + nd * nd + 2 * nd + 2 * K + 2) + f * nd * Cd * K,
       [&] {
         ops::mhc_coeffs_backward_input(dx, x_coef, dtilde, cpre, cpost, clog, phi, alpha, h_pre, h_post, proj, rstd);
       }},
      {"mhc_coeffs_backward_weight", Nd * f * (nd * Cd + 2 * K + 1) + 2 * f * nd * Cd * K,
       [&] { ops::mhc_coeffs_backward_weight(dphi, dalpha, dbias, dtilde, x, proj, rstd, alpha); }},
      {"sinkhorn_backward", Nd * f * 3 * nd * nd, [&] { ops::sinkhorn_backward(dlogits, h_res, logits, 20); }},
      {"stream_pre_apply_backward", Nd * f * (nd * Cd + nd + Cd), [&] { ops::stream_pre_apply_backward(cpre, u, x); }},
      {"stream_post_res_backward", Nd * f * (2 * nd * Cd + 2 * Cd + nd * nd + 2 * nd),
       [&] { ops::stream_post_res_backward(dy, clog, cpost, x_out, x, y, h_post); }},
      {"stream_mix_backward (with the x term)", Nd * f * (4 * nd * Cd + Cd + nd * nd + nd + 1),
       [&] { ops::stream_mix_backward(dx, x_out, u, h_res, h_pre, x, rstd); }},
      // The fused passes the model runs (the sums of the rows above that they replace are the comparison).
      {"mhc_stream_forward (fused coefficients, Sinkhorn, pre-apply)",
       Nd * f * (nd * Cd + Cd + 2 * nd + 2 * nd * nd + K + 1) + f * nd * Cd * K,
       [&] {
         ops::mhc_stream_forward({u, cpre, cpost, clog, h_res, proj, rstd, x, phi, alpha, bias}, 20);
       }},
      {"mhc_stream_backward (fused, after dy and F)",
       Nd * f * (3 * nd * Cd + 2 * Cd + 6 * nd + 4 * nd * nd + 2 * K + 2) + f * nd * Cd * K,
       [&] {
         ops::mhc_stream_backward({dx, x_coef, dtilde, dh_pre, cpost, dh_res, dlogits, x_out, u, x, y, h_pre, h_post,
                                   h_res, logits, proj, rstd, phi, alpha},
                                  20);
       }},
  };
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& c : cases) {
    const double s = median_seconds(repeats, c.run);
    rows.push_back({{"op", c.op}, {"tokens", N}, {"n", n}, {"C", C}, {"median_ms", s * 1e3},
                    {"bytes", c.bytes}, {"gbps", c.bytes / s * 1e-9}});
  }
  return rows;
}

void run_bench_ops(const BenchOptions& opt) {
  const config::Config cfg = load_config_from_flags(opt.common);
  nlohmann::json report{{"device", "cpu"}, {"repeats", opt.repeats}, {"statistic", "median"}};
  report["config"] = opt.common.config_path.empty() ? "default" : opt.common.config_path;
  report["gemm_library"] = gemm_library_json();
  report["matmul_f32"] = bench_matmul(opt.repeats);
  report["step_gemms_f32"] = bench_step_gemms(cfg, opt.repeats);
  // The mHC ops at a micro-batch of the config (n = 4 for a residual config), or at a fixed shape by default.
  if (opt.common.config_path.empty()) {
    report["mhc_ops_f32"] = bench_mhc_ops(4096, 4, 512, opt.repeats);
  } else {
    const std::int64_t n = cfg.residual.n_streams > 1 ? cfg.residual.n_streams : 4;
    report["mhc_ops_f32"] =
        bench_mhc_ops(cfg.train.micro_batch * cfg.model.seq_len, n, cfg.model.d_model, opt.repeats);
  }
  std::cout << report.dump(2) << "\n";
  if (!opt.out_file.empty()) {
    write_file_atomic(opt.out_file, report.dump(2) + "\n");
  }
}

}  // namespace

void register_bench(CLI::App& app) {
  auto opt = std::make_shared<BenchOptions>();
  auto* bench = app.add_subcommand("bench", "micro-benchmarks, JSON out");
  bench->require_subcommand(1);
  auto* ops_cmd = bench->add_subcommand(
      "ops", "CPU GEMM library, matmul GFLOP/s (square and the config's training-step shapes), mHC stream-op GB/s");
  add_common_flags(ops_cmd, opt->common);
  ops_cmd->add_option("--repeats", opt->repeats, "timed runs per case (the median is reported)")
      ->check(CLI::Range(1, 1000));
  ops_cmd->add_option("--json", opt->out_file, "also write the report to this file")->check(non_empty_path());
  ops_cmd->callback([opt] { run_bench_ops(*opt); });
}

}  // namespace mhc::app
