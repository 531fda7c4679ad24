// [cuda] AdamW step, gradient norm and in-place scaling kernels vs the CPU oracle, through the ops entry points.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "cuda/device_support.hpp"
#include "cuda/f32_inputs.hpp"
#include "ops/adamw.hpp"
#include "ops/grad_norm.hpp"

using namespace mhc;
using namespace mhc::test;

namespace {

// AdamW: both sides round the same double operations in the same order (no FMA on either side) and sqrt and
// division are IEEE, so the results should agree bitwise; rtol 1e-6 (a few f32 ulp) leaves room only for a CPU
// oracle compiled with FMA contraction. The atol covers a parameter that decay and update cancel to ~0.
constexpr double kAdamRtol = 1e-6;
constexpr double kAdamAtol = 1e-12;

void check_adamw(Shape shape) {
  const std::string tag = "shape " + shape.str();
  INFO(tag);
  ops::AdamWParams p;
  p.lr = 1e-3;
  p.weight_decay = 0.1;
  const HostTensor param = random_f32(shape, "cuda.adam.param"), m(DType::f32, shape), v(DType::f32, shape);
  std::int64_t bytes = 0;
  for (int k = 0; k < 4; ++k) bytes += param.view().bytes();
  Arena arena = device_arena(bytes);
  const Tensor d_param = upload(arena, param, "param"), d_m = upload(arena, m, "m"), d_v = upload(arena, v, "v");
  const Tensor d_grad = upload(arena, m, "grad");
  for (std::int64_t step = 1; step <= 3; ++step) {  // moments from zero, then carried by each side
    p.step = step;
    const std::string at = " step " + std::to_string(step) + " (" + tag + ")";
    const HostTensor grad = random_f32(shape, "cuda.adam.grad" + at, 0.1 * static_cast<double>(step));
    ops::adamw_step(param, grad, m, v, p);
    copy_tensor(d_grad, grad);
    ops::adamw_step(d_param, d_grad, d_m, d_v, p);
    check_close("m" + at, download(d_m), m, kAdamAtol, kAdamRtol);
    check_close("v" + at, download(d_v), v, kAdamAtol, kAdamRtol);
    check_close("param" + at, download(d_param), param, kAdamAtol, kAdamRtol);
  }
}

}  // namespace

TEST_CASE("adamw kernel matches the CPU oracle", "[cuda]") {
  for (const std::int64_t n : {1, 3, 1000, 4096 * 256 * 4 + 5}) check_adamw(Shape{n});  // the last: grid-stride
  check_adamw(Shape{37, 129});
}

TEST_CASE("adamw on CUDA checks devices", "[cuda]") {
  Arena arena = device_arena(4096);
  const Tensor a = arena.alloc(DType::f32, Shape{3, 4}, "a");
  const HostTensor host(DType::f32, Shape{3, 4});
  ops::AdamWParams p;
  p.lr = 1e-3;
  CHECK_THROWS_WITH(ops::adamw_step(a, a, host, a, p), Catch::Contains("adamw m"));
}

TEST_CASE("grad_norm_squared and scale_inplace kernels match the CPU oracle", "[cuda]") {
  // Sizes around the block size, an empty tensor, and one beyond the 1024 x 256 first-pass grid (grid-stride).
  const std::vector<std::int64_t> sizes{1, 7, 0, 256, 257, 100003, (std::int64_t{1} << 20) + 3};
  std::vector<HostTensor> host;
  std::int64_t bytes = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    host.push_back(random_f32(Shape{sizes[i]}, "cuda.norm." + std::to_string(i), 1.0 + static_cast<double>(i)));
    bytes += host.back().view().bytes();
  }
  Arena arena = device_arena(bytes);
  std::vector<Tensor> host_views, device_views, mixed;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    host_views.push_back(host[i]);
    device_views.push_back(upload(arena, host[i], "g" + std::to_string(i)));
    mixed.push_back(i == 3 ? host_views.back() : device_views.back());
  }
  // Exact squares summed in double on both sides, in another order: ~1e-16 relative per addition.
  const double ref = ops::grad_norm_squared(host_views);
  const double got = ops::grad_norm_squared(device_views);
  CHECK(std::fabs(got - ref) <= 1e-12 * ref);
  CHECK(std::fabs(ops::grad_norm_squared(mixed) - ref) <= 1e-12 * ref);
  CHECK(ops::grad_norm_squared(device_views) == got);  // reproducible bits
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    INFO("tensor " << i);
    const double single = ops::grad_norm_squared({device_views[i]});
    const double single_ref = ops::grad_norm_squared({host_views[i]});
    CHECK(std::fabs(single - single_ref) <= 1e-12 * single_ref);
  }

  // scale_inplace: one f32 product per element on both sides, bitwise.
  const double s = 0.3771;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    ops::scale_inplace(host_views[i], s);
    ops::scale_inplace(device_views[i], s);
    check_close("scaled tensor " + std::to_string(i), download(device_views[i]), host[i], 0.0, 0.0);
  }
}
