// [cuda] Fused post + res kernel vs the CPU oracle (fp32 both), through ops::stream_post_res_forward.
#include <catch2/catch.hpp>

#include <cuda_runtime.h>

#include <string>

#include "core/stream.hpp"
#include "cuda/device_support.hpp"
#include "ops/stream_mix.hpp"
#include "support/gradcheck.hpp"
#include "support/mhc_inputs.hpp"

using namespace mhc;
using namespace mhc::test;

namespace {

struct PostResInputs {
  HostTensor x, y, h_res, h_post, ref;
};

PostResInputs make_inputs(std::int64_t N, std::int64_t n, std::int64_t C) {
  PostResInputs in{to_dtype(random_tensor(Shape{N, n, C}, "cuda.pr.x"), DType::f32),
                   to_dtype(random_tensor(Shape{N, C}, "cuda.pr.y"), DType::f32),
                   to_dtype(random_tensor(Shape{N, n, n}, "cuda.pr.hres", 0.5), DType::f32),
                   to_dtype(random_tensor(Shape{N, n}, "cuda.pr.hpost"), DType::f32),
                   HostTensor(DType::f32, Shape{N, n, C})};
  ops::stream_post_res_forward(in.ref, in.x, in.y, in.h_res, in.h_post);
  return in;
}

std::int64_t total_bytes(const PostResInputs& in) {
  return 2 * in.x.view().bytes() + in.y.view().bytes() + in.h_res.view().bytes() + in.h_post.view().bytes() +
         4 * kArenaAlignment;
}

// Runs the kernel with x, y and x_out offset by `shift` floats from the arena's 256-byte alignment
// (shift = 1 forces the scalar path even when C % 4 == 0).
void check_post_res(std::int64_t N, std::int64_t n, std::int64_t C, std::int64_t shift = 0) {
  const std::string tag = "N " + std::to_string(N) + " n " + std::to_string(n) + " C " + std::to_string(C) +
                          " shift " + std::to_string(shift);
  INFO(tag);
  const PostResInputs in = make_inputs(N, n, C);
  Arena arena = device_arena(total_bytes(in));
  const auto shifted = [&](const HostTensor& host, const char* what) {
    Tensor d = arena.alloc(DType::f32, Shape{host.numel() + shift}, what);
    d = Tensor(d.ptr<float>() + shift, DType::f32, host.view().shape, Device::cuda);
    copy_tensor(d, host);
    return d;
  };
  const Tensor x = shifted(in.x, "x"), y = shifted(in.y, "y");
  const Tensor x_out = shifted(nan_tensor(DType::f32, in.ref.view().shape), "x_out");
  const Tensor h_res = upload(arena, in.h_res, "h_res"), h_post = upload(arena, in.h_post, "h_post");
  ops::stream_post_res_forward(x_out, x, y, h_res, h_post);
  // n + 1 fused multiply-adds per output on the GPU vs BLAS on the CPU: a few fp32 roundings of O(1) terms.
  check_close("x_out (" + tag + ")", download(x_out), in.ref, 1e-5, 1e-5);
}

}  // namespace

TEST_CASE("stream_post_res_forward kernel matches the CPU oracle", "[cuda]") {
  for (const std::int64_t n : {1, 2, 3, 4, 8})
    for (const std::int64_t C : {1, 7, 33, 256, 260, 1030})
      for (const std::int64_t N : {1, 3, 37}) check_post_res(N, n, C);
  check_post_res(5, 4, 64, 1);   // C % 4 == 0 but misaligned: scalar path
  check_post_res(5, 4, 1024, 2);
  check_post_res(4096, 4, 1024);  // large-ish, float4 path
  check_post_res(4096, 4, 1023);  // large-ish, scalar path
}

TEST_CASE("stream_post_res_forward runs on the current stream", "[cuda]") {
  const std::int64_t N = 64, n = 4, C = 128;
  const PostResInputs in = make_inputs(N, n, C);
  Arena arena = device_arena(total_bytes(in));
  const Tensor x = upload(arena, in.x, "x"), y = upload(arena, in.y, "y"), h_res = upload(arena, in.h_res, "h_res");
  const Tensor h_post = upload(arena, in.h_post, "h_post");
  const Tensor x_out = upload(arena, nan_tensor(DType::f32, in.x.view().shape), "x_out");
  cudaStream_t stream = nullptr;
  REQUIRE(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess);
  {
    StreamGuard guard(StreamHandle{stream});
    ops::stream_post_res_forward(x_out, x, y, h_res, h_post);
  }
  REQUIRE(cudaStreamSynchronize(stream) == cudaSuccess);
  check_close("x_out on a side stream", download(x_out), in.ref, 1e-5, 1e-5);
  REQUIRE(cudaStreamDestroy(stream) == cudaSuccess);
}

TEST_CASE("stream ops without a CUDA kernel refuse device tensors", "[cuda]") {
  Arena arena = device_arena(4096);
  const Tensor x = arena.alloc(DType::f32, Shape{2, 3, 4}, "x"), u = arena.alloc(DType::f32, Shape{2, 4}, "u");
  const Tensor h = arena.alloc(DType::f32, Shape{2, 3}, "h");
  CHECK_THROWS_AS(ops::stream_pre_apply_forward(u, x, h), DeviceError);
}
