// The OpenMP-parallel CPU connection ops and the GEMM library give bitwise the same results with 1 and 2 threads,
// and the connection ops the same on every vector ISA of the CPU.
#include <catch2/catch.hpp>
#include <omp.h>

#include <cstring>
#include <functional>
#include <vector>

#include "core/host_tensor.hpp"
#include "core/rng.hpp"
#include "ops/cpu/blas/blas.hpp"
#include "ops/cpu/parallel_for.hpp"
#include "ops/matmul.hpp"
#include "ops/mhc_coeffs.hpp"
#include "ops/sinkhorn.hpp"
#include "ops/stream_mix.hpp"

using namespace mhc;

namespace {

HostTensor random_f32(Shape s, const char* name) {
  HostTensor t(DType::f32, s);
  fill_normal(t, 11, name, 0.0, 1.0);
  return t;
}

std::vector<unsigned char> bytes(const HostTensor& t) {
  std::vector<unsigned char> b(static_cast<std::size_t>(t.numel()) * 4);
  std::memcpy(b.data(), t.view().ptr<float>(), b.size());
  return b;
}

// Runs `op` with `threads` OpenMP threads and returns the bytes of `outputs`.
std::vector<std::vector<unsigned char>> run_with(int threads, const std::function<void()>& op,
                                                 const std::vector<const HostTensor*>& outputs) {
  const int before = omp_get_max_threads();
  omp_set_num_threads(threads);
  op();
  omp_set_num_threads(before);
  std::vector<std::vector<unsigned char>> out;
  for (const HostTensor* t : outputs) out.push_back(bytes(*t));
  return out;
}

}  // namespace

namespace {

using Outputs = std::vector<std::vector<unsigned char>>;
using OpCases = std::vector<std::pair<const char*, std::function<Outputs(int)>>>;

// Every vectorised connection op on one set of inputs; case(threads) runs it and returns its outputs' bytes.
struct ConnectionOps {
  static constexpr std::int64_t N = 37, n = 4, C = 25, K = n * n + 2 * n;  // odd N, C: uneven splits, tails
  const HostTensor x = random_f32(Shape{N, n, C}, "x"), y = random_f32(Shape{N, C}, "y");
  const HostTensor h_res = random_f32(Shape{N, n, n}, "h_res"), h_pre = random_f32(Shape{N, n}, "h_pre");
  const HostTensor h_post = random_f32(Shape{N, n}, "h_post"), g = random_f32(Shape{N, n, C}, "g");
  const HostTensor phi = random_f32(Shape{n * C, K}, "phi"), alpha = random_f32(Shape{3}, "alpha");
  const HostTensor bias = random_f32(Shape{K}, "bias"), coef = random_f32(Shape{N}, "coef");
  const HostTensor dtilde = random_f32(Shape{N, K}, "dtilde");
  const HostTensor x_out{DType::f32, Shape{N, n, C}}, u{DType::f32, Shape{N, C}}, dy{DType::f32, Shape{N, C}};
  const HostTensor dh_res{DType::f32, Shape{N, n, n}}, dh_post{DType::f32, Shape{N, n}};
  const HostTensor dh_pre{DType::f32, Shape{N, n}}, x_coef{DType::f32, Shape{N}};
  const HostTensor cpre{DType::f32, Shape{N, n}}, cpost{DType::f32, Shape{N, n}}, clog{DType::f32, Shape{N, n, n}};
  const HostTensor proj{DType::f32, Shape{N, K}}, rstd{DType::f32, Shape{N}}, dt{DType::f32, Shape{N, K}};
  const HostTensor dx{DType::f32, Shape{N, n, C}};
  const HostTensor h_post_sq = random_f32(Shape{N, n, n}, "dh");

  OpCases cases() const {
    return {
        {"stream_pre_apply_forward",
         [&](int th) { return run_with(th, [&] { ops::stream_pre_apply_forward(u, x, h_pre); }, {&u}); }},
        {"stream_post_res_forward",
         [&](int th) {
           return run_with(th, [&] { ops::stream_post_res_forward(x_out, x, y, h_res, h_post); }, {&x_out});
         }},
        {"stream_pre_apply_backward",
         [&](int th) { return run_with(th, [&] { ops::stream_pre_apply_backward(dh_pre, y, x); }, {&dh_pre}); }},
        {"stream_post_res_backward",
         [&](int th) {
           return run_with(
               th, [&] { ops::stream_post_res_backward(dy, dh_res, dh_post, g, x, y, h_post); },
               {&dy, &dh_res, &dh_post});
         }},
        {"stream_mix_backward",
         [&](int th) {
           fill_constant(dx, 0.5);
           return run_with(th, [&] { ops::stream_mix_backward(dx, g, y, h_res, h_pre, x, coef); }, {&dx});
         }},
        {"sinkhorn_forward",
         [&](int th) { return run_with(th, [&] { ops::sinkhorn_forward(clog, h_res, 20); }, {&clog}); }},
        {"sinkhorn_backward",
         [&](int th) {
           return run_with(th, [&] { ops::sinkhorn_backward(dh_res, h_post_sq, h_res, 20); }, {&dh_res});
         }},
        {"mhc_coeffs_forward",
         [&](int th) {
           return run_with(
               th, [&] { ops::mhc_coeffs_forward(cpre, cpost, clog, proj, rstd, x, phi, alpha, bias); },
               {&cpre, &cpost, &clog, &proj, &rstd});
         }},
        {"mhc_coeffs_backward_input",
         [&](int th) {
           return run_with(
               th,
               [&] {
                 // Random stand-ins for the upstream gradients and the saved proj and rstd.
                 ops::mhc_coeffs_backward_input(dx, x_coef, dt, h_pre, h_post, h_res, phi, alpha, h_pre, h_post, dtilde,
                                                coef);
               },
               {&dx, &x_coef, &dt});
         }},
    };
  }
};

}  // namespace

TEST_CASE("connection ops are bitwise identical with 1 and 2 OpenMP threads", "[cpu][mhc][threads]") {
  const ConnectionOps ops_;
  for (const auto& [name, run] : ops_.cases()) {
    INFO(name);
    CHECK(run(1) == run(2));
  }
}

TEST_CASE("connection ops give the same bits on every vector ISA this CPU has", "[cpu][mhc][threads]") {
  // The loops are compiled for AVX-512, AVX2 and the baseline with plain multiply and add (no FMA contraction):
  // each narrower variant must reproduce the widest one's bytes. On a CPU without AVX-512 (or AVX2) the wider
  // variants cannot run and are reported as not checked.
  const ConnectionOps ops_;
  const ops::cpu::VectorIsa widest = ops::cpu::widest_vector_isa();
  std::vector<Outputs> reference;
  for (const auto& [name, run] : ops_.cases()) reference.push_back(run(2));
  for (const ops::cpu::VectorIsa isa : {ops::cpu::VectorIsa::avx2, ops::cpu::VectorIsa::baseline}) {
    if (static_cast<int>(isa) >= static_cast<int>(widest)) {
      WARN("vector ISA " << static_cast<int>(isa) << " is this CPU's widest: compared with itself only");
      continue;
    }
    const ops::cpu::ScopedVectorIsa narrowed(isa);
    const OpCases cases = ops_.cases();
    for (std::size_t k = 0; k < cases.size(); ++k) {
      INFO(cases[k].first << " on ISA " << static_cast<int>(isa));
      CHECK(cases[k].second(2) == reference[k]);
    }
  }
}

TEST_CASE("the GEMM library gives bitwise the same products with 1 and 2 threads", "[cpu][matmul][threads]") {
  // Training-step shapes (tokens x width, the weight gradients' long reductions, the mHC coefficients' skinny
  // products), both transposes, big enough that the library splits them over the threads.
  struct Case {
    std::int64_t m, n, k;
    bool ta, tb;
  };
  const std::vector<Case> cases{{1024, 192, 160, false, true},  {1024, 160, 192, false, false},
                                {192, 160, 1024, true, false},  {1000, 300, 24, false, true},
                                {300, 24, 1000, true, false},   {333, 257, 129, true, true}};
  const ops::cpu::blas::Info library = ops::cpu::blas::info();
  if (!library.thread_count_independent) {
    WARN(library.library << " gives thread-count dependent products (docs/performance.md): not checked");
    return;
  }
  for (const Case& c : cases) {
    INFO(c.m << " x " << c.n << " x " << c.k << " ta " << c.ta << " tb " << c.tb);
    const HostTensor a = random_f32(c.ta ? Shape{c.k, c.m} : Shape{c.m, c.k}, "a");
    const HostTensor b = random_f32(c.tb ? Shape{c.n, c.k} : Shape{c.k, c.n}, "b");
    const HostTensor out(DType::f32, Shape{c.m, c.n});
    const auto run = [&](int threads) {
      fill_constant(out, 0.25);
      run_with(threads, [&] { ops::matmul(out, a, b, c.ta, c.tb, 1.0f, 1.0f); }, {});
      const float* p = out.view().ptr<float>();
      return std::vector<float>(p, p + out.numel());
    };
    const std::vector<float> one = run(1), two = run(2);
    std::int64_t differ = 0;
    for (std::size_t i = 0; i < one.size(); ++i) differ += std::memcmp(&one[i], &two[i], sizeof(float)) != 0;
    INFO(differ << " of " << one.size() << " entries differ");
    CHECK(differ == 0);
  }
  const int before = omp_get_max_threads();
  omp_set_num_threads(2);
  CHECK(ops::cpu::blas::info().threads == 2);  // the library follows OpenMP's thread count: the 2-thread runs were
  omp_set_num_threads(before);
}
