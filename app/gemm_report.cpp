// GEMM library identity and per-shape GEMM timings for `mhc-train bench ops`.
#include "gemm_report.hpp"

#include <algorithm>
#include <omp.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "core/host_tensor.hpp"
#include "core/rng.hpp"
#include "model/gemm_shapes.hpp"
#include "ops/cpu/blas/blas.hpp"
#include "ops/matmul.hpp"

namespace mhc::app {

namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, name = "unknown";
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      name = line.substr(line.find(':') + 2);
      break;
    }
  }
  const char* isa = __builtin_cpu_supports("avx512f") ? "AVX-512" : __builtin_cpu_supports("avx2") ? "AVX2" : "SSE";
  return name + " (" + isa + ")";
}

// Whether op(a) op(b) on one thread has the same bits as on the process's thread count.
bool same_bits_on_one_thread(const model::GemmShape& g, const HostTensor& a, const HostTensor& b) {
  const HostTensor many(DType::f32, Shape{g.m, g.n}), one(DType::f32, Shape{g.m, g.n});
  ops::matmul(many, a, b, g.trans_a, g.trans_b);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  ops::matmul(one, a, b, g.trans_a, g.trans_b);
  omp_set_num_threads(threads);
  return std::memcmp(many.view().data, one.view().data, static_cast<std::size_t>(g.m * g.n) * sizeof(float)) == 0;
}

}  // namespace

nlohmann::json gemm_library_json() {
  const ops::cpu::blas::Info i = ops::cpu::blas::info();
  return {{"cpu", cpu_model()},
          {"library", i.library},
          {"version", i.version},
          {"kernel", i.kernel},
          {"threading", i.threading},
          {"threads", i.threads},
          {"thread_count_independent", i.thread_count_independent}};
}

nlohmann::json bench_step_gemms(const config::Config& cfg, int repeats) {
  nlohmann::json rows = nlohmann::json::array();
  double total_s = 0, total_flops = 0;
  bool all_bitwise = true;
  for (const model::GemmShape& g : model::step_gemm_shapes(cfg)) {
    HostTensor a(DType::f32, g.trans_a ? Shape{g.k, g.m} : Shape{g.m, g.k});
    HostTensor b(DType::f32, g.trans_b ? Shape{g.n, g.k} : Shape{g.k, g.n});
    HostTensor c(DType::f32, Shape{g.m, g.n});
    fill_normal(a, 3, "a", 0.0, 1.0);
    fill_normal(b, 3, "b", 0.0, 1.0);
    fill_normal(c, 3, "c", 0.0, 1.0);
    const float beta = g.trans_a ? 1.0f : 0.0f;  // weight gradients accumulate (ops::linear_backward_weight)
    std::vector<double> t;
    for (int r = 0; r <= repeats; ++r) {
      const auto start = std::chrono::steady_clock::now();
      ops::matmul(c, a, b, g.trans_a, g.trans_b, 1.0f, beta);
      if (r > 0) t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(t.begin(), t.end());
    const double s = t[t.size() / 2];
    const bool bitwise = same_bits_on_one_thread(g, a, b);
    all_bitwise = all_bitwise && bitwise;
    total_s += s * static_cast<double>(g.count);
    total_flops += g.flops() * static_cast<double>(g.count);
    rows.push_back({{"use", g.use}, {"m", g.m}, {"n", g.n}, {"k", g.k}, {"trans_a", g.trans_a},
                    {"trans_b", g.trans_b}, {"count", g.count}, {"median_ms", s * 1e3},
                    {"gflops", g.flops() / s * 1e-9}, {"bitwise_on_one_thread", bitwise}});
  }
  return {{"shapes", rows},
          {"step_gemm_ms", total_s * 1e3},
          {"step_gemm_gflops", total_flops / total_s * 1e-9},
          {"threads", omp_get_max_threads()},
          {"bitwise_on_one_thread", all_bitwise}};
}

}  // namespace mhc::app
