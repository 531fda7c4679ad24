// The OpenMP-parallel CPU connection ops give bitwise the same results with 1 and 2 threads (tokens are independent).
#include <catch2/catch.hpp>

#include <cstring>
#include <functional>
#include <vector>

#include "core/host_tensor.hpp"
#include "core/rng.hpp"
#include "ops/mhc_coeffs.hpp"
#include "ops/sinkhorn.hpp"
#include "ops/stream_mix.hpp"

// Resolved by libgomp when the ops library links OpenMP; null otherwise (then both runs use one thread).
extern "C" void omp_set_num_threads(int) __attribute__((weak));
extern "C" int omp_get_max_threads() __attribute__((weak));

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

// Runs `op` with `threads` OpenMP threads (when available) and returns the bytes of `outputs`.
std::vector<std::vector<unsigned char>> run_with(int threads, const std::function<void()>& op,
                                                 const std::vector<const HostTensor*>& outputs) {
  const int before = omp_get_max_threads ? omp_get_max_threads() : 1;
  if (omp_set_num_threads) omp_set_num_threads(threads);
  op();
  if (omp_set_num_threads) omp_set_num_threads(before);
  std::vector<std::vector<unsigned char>> out;
  for (const HostTensor* t : outputs) out.push_back(bytes(*t));
  return out;
}

}  // namespace

TEST_CASE("connection ops are bitwise identical with 1 and 2 OpenMP threads", "[cpu][mhc][threads]") {
  const std::int64_t N = 37, n = 4, C = 25, K = n * n + 2 * n;  // odd N, C: uneven splits and block tails
  const HostTensor x = random_f32(Shape{N, n, C}, "x"), y = random_f32(Shape{N, C}, "y");
  const HostTensor h_res = random_f32(Shape{N, n, n}, "h_res"), h_pre = random_f32(Shape{N, n}, "h_pre");
  const HostTensor h_post = random_f32(Shape{N, n}, "h_post"), g = random_f32(Shape{N, n, C}, "g");
  const HostTensor phi = random_f32(Shape{n * C, K}, "phi"), alpha = random_f32(Shape{3}, "alpha");
  const HostTensor bias = random_f32(Shape{K}, "bias");
  const HostTensor x_out(DType::f32, Shape{N, n, C}), u(DType::f32, Shape{N, C}), dy(DType::f32, Shape{N, C});
  const HostTensor dh_res(DType::f32, Shape{N, n, n}), dh_post(DType::f32, Shape{N, n}), dh_pre(DType::f32, Shape{N, n});
  const HostTensor cpre(DType::f32, Shape{N, n}), cpost(DType::f32, Shape{N, n}), clog(DType::f32, Shape{N, n, n});
  const HostTensor proj(DType::f32, Shape{N, K}), rstd(DType::f32, Shape{N});
  HostTensor dx(DType::f32, Shape{N, n, C});
  const HostTensor h_post_sq = random_f32(Shape{N, n, n}, "dh");

  const std::vector<std::pair<const char*, std::function<std::vector<std::vector<unsigned char>>(int)>>> cases{
      {"stream_pre_apply_forward",
       [&](int th) { return run_with(th, [&] { ops::stream_pre_apply_forward(u, x, h_pre); }, {&u}); }},
      {"stream_post_res_forward",
       [&](int th) { return run_with(th, [&] { ops::stream_post_res_forward(x_out, x, y, h_res, h_post); }, {&x_out}); }},
      {"stream_pre_apply_backward",
       [&](int th) {
         fill_constant(dx, 0.5);
         return run_with(th, [&] { ops::stream_pre_apply_backward(dx, dh_pre, y, x, h_pre); }, {&dx, &dh_pre});
       }},
      {"stream_post_res_backward",
       [&](int th) {
         fill_constant(dx, 0.5);
         return run_with(
             th, [&] { ops::stream_post_res_backward(dx, dy, dh_res, dh_post, g, x, y, h_res, h_post); },
             {&dx, &dy, &dh_res, &dh_post});
       }},
      {"sinkhorn_forward",
       [&](int th) { return run_with(th, [&] { ops::sinkhorn_forward(clog, h_res, 20); }, {&clog}); }},
      {"sinkhorn_backward",
       [&](int th) { return run_with(th, [&] { ops::sinkhorn_backward(dh_res, h_post_sq, h_res, 20); }, {&dh_res}); }},
      {"mhc_coeffs_forward",
       [&](int th) {
         return run_with(
             th, [&] { ops::mhc_coeffs_forward(cpre, cpost, clog, proj, rstd, x, phi, alpha, bias); },
             {&cpre, &cpost, &clog, &proj, &rstd});
       }},
  };
  for (const auto& [name, run] : cases) {
    INFO(name);
    CHECK(run(1) == run(2));
  }
}
