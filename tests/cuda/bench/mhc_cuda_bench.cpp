// mhc_cuda_bench: achieved bandwidth of the fused mHC kernels at N = 65536 tokens, n = 4, C = 2048 and 768, against
// a device-to-device copy. Usage: mhc_cuda_bench OUT.json. For each kernel: the minimum compulsory traffic (every
// input read once, every output written once, fp32), the median time of kRepeats launches after kWarmup (CUDA
// events around each launch), GB/s and the percentage of the copy's GB/s.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "kernels/mhc_coeffs.hpp"
#include "kernels/mhc_projection.hpp"
#include "kernels/sinkhorn.hpp"
#include "kernels/stream_mix.hpp"

namespace {

constexpr std::int64_t kTokens = 65536;
constexpr int kStreams = 4;
constexpr int kIters = 20;
constexpr int kWarmup = 3;
constexpr int kRepeats = 25;
constexpr float kEps = 1e-6f;

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "mhc_cuda_bench: %s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

// A device buffer of `count` floats filled with N(0, scale^2)-like values (a host pattern repeated by copies).
class Buffer {
 public:
  Buffer(std::int64_t count, float scale, float offset = 0.0f) : count_(count) {
    check(cudaMalloc(&data_, static_cast<std::size_t>(count) * sizeof(float)), "cudaMalloc");
    const std::int64_t chunk = std::min<std::int64_t>(count, 1 << 20);
    std::vector<float> host(static_cast<std::size_t>(chunk));
    std::uint64_t state = 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(count + 1);
    for (float& v : host) {  // sum of 4 uniforms: roughly normal, mean 0, variance 1/3
      float s = 0;
      for (int k = 0; k < 4; ++k) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        s += static_cast<float>(state >> 40) / static_cast<float>(1 << 24) - 0.5f;
      }
      v = offset + scale * s * 1.7320508f;
    }
    check(cudaMemcpy(data_, host.data(), static_cast<std::size_t>(chunk) * sizeof(float), cudaMemcpyHostToDevice),
          "cudaMemcpy");
    for (std::int64_t filled = chunk; filled < count; filled *= 2)
      check(
          cudaMemcpy(data_ + filled, data_, static_cast<std::size_t>(std::min(filled, count - filled)) * sizeof(float),
                     cudaMemcpyDeviceToDevice),
          "cudaMemcpy");
  }
  ~Buffer() { cudaFree(data_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  float* get() const { return data_; }
  std::int64_t bytes() const { return count_ * static_cast<std::int64_t>(sizeof(float)); }

 private:
  float* data_ = nullptr;
  std::int64_t count_;
};

struct Result {
  std::string name;
  double bytes, ms, gbps;
};

// Median milliseconds of one call of `fn` on `stream`.
double median_ms(const std::function<void()>& fn, cudaStream_t stream) {
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  for (int k = 0; k < kWarmup; ++k) fn();
  check(cudaStreamSynchronize(stream), "warm-up");
  std::vector<float> ms;
  for (int k = 0; k < kRepeats; ++k) {
    check(cudaEventRecord(start, stream), "cudaEventRecord");
    fn();
    check(cudaEventRecord(stop, stream), "cudaEventRecord");
    check(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float t = 0;
    check(cudaEventElapsedTime(&t, start, stop), "cudaEventElapsedTime");
    ms.push_back(t);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// Every kernel at one hidden size C; returns the results, the copy first.
std::vector<Result> run_case(std::int64_t C, cudaStream_t s) {
  const std::int64_t N = kTokens, n = kStreams, nn = n * n, K = nn + 2 * n, D = n * C;
  const mhc::StreamHandle handle{s};  // s, as the launchers take it
  const double f = sizeof(float);
  Buffer x(N * D, 1.0f), x2(N * D, 1.0f), g(N * D, 1.0f), y(N * C, 1.0f), y2(N * C, 1.0f);
  Buffer h_res(N * nn, 0.25f, 0.25f), h_post(N * n, 0.5f, 1.0f), h_pre(N * n, 0.2f, 0.5f), dh(N * nn, 1.0f);
  Buffer dh2(N * nn, 1.0f), logits(N * nn, 2.0f), h_out(N * nn, 1.0f), phi(D * K, 0.02f), dphi(D * K, 0.0f);
  Buffer proj(N * K, 1.0f), rstd(N, 0.1f, 1.0f), dtilde(N * K, 1.0f), alpha(3, 0.0f, 0.5f), bias(K, 1.0f);
  Buffer dalpha(3, 0.0f), dbias(K, 0.0f), gate_a(N * n, 1.0f), gate_b(N * n, 1.0f);

  std::vector<Result> out;
  const auto add = [&](const std::string& name, double bytes, const std::function<void()>& fn) {
    const double ms = median_ms(fn, s);
    out.push_back({name, bytes, ms, bytes / (ms * 1e-3) / 1e9});
  };
  const double per_token = static_cast<double>(N) * f;
  add("copy (cudaMemcpyAsync D2D)", 2.0 * x.bytes(), [&] {
    check(cudaMemcpyAsync(x2.get(), x.get(), static_cast<std::size_t>(x.bytes()), cudaMemcpyDeviceToDevice, s),
          "cudaMemcpyAsync");
  });
  add("stream_post_res_forward", per_token * ((n + 1) * C + n * C + nn + n), [&] {
    mhc::kernels::launch_stream_post_res_forward(x2.get(), x.get(), y.get(), h_res.get(), h_post.get(), N, n, C,
                                                 handle);
  });
  add("stream_post_res_backward", per_token * (2 * n * C + 2 * C + nn + 2 * n), [&] {
    mhc::kernels::launch_stream_post_res_backward(y2.get(), dh.get(), gate_a.get(), g.get(), x.get(), y.get(),
                                                  h_post.get(), N, n, C, handle);
  });
  add("stream_mix_backward (with the x term)", per_token * (4 * n * C + C + nn + n + 1), [&] {
    mhc::kernels::launch_stream_mix_backward(x2.get(), g.get(), y.get(), h_res.get(), h_pre.get(), x.get(), rstd.get(),
                                             N, n, C, handle);
  });
  add("stream_pre_apply_forward", per_token * (n * C + C + n),
      [&] { mhc::kernels::launch_stream_pre_apply_forward(y2.get(), x.get(), h_pre.get(), N, n, C, handle); });
  add("stream_pre_apply_backward", per_token * (n * C + C + n),
      [&] { mhc::kernels::launch_stream_pre_apply_backward(gate_a.get(), y.get(), x.get(), N, n, C, handle); });
  add("mhc_projection_forward (x phi + sum of squares)", per_token * (D + K + 1) + f * D * K, [&] {
    mhc::kernels::launch_mhc_projection_forward(proj.get(), rstd.get(), x.get(), phi.get(), N, n, C, kEps, handle);
  });
  add("mhc_gates_forward (+ Sinkhorn in registers)", per_token * (K + 1 + 2 * n + 2 * nn) + f * (3 + K), [&] {
    mhc::kernels::launch_mhc_gates_forward(gate_a.get(), gate_b.get(), logits.get(), h_out.get(), proj.get(),
                                           rstd.get(), alpha.get(), bias.get(), N, n, kIters, handle);
  });
  add("mhc_coeffs_backward_input (gates + projection)", per_token * (D + 4 * n + nn + 2 * K + 2) + f * D * K, [&] {
    mhc::kernels::launch_mhc_gates_backward(dtilde.get(), gate_a.get(), gate_b.get(), dh.get(), h_pre.get(),
                                            h_post.get(), N, n, handle);
    mhc::kernels::launch_mhc_projection_backward_input(x2.get(), y2.get(), dtilde.get(), proj.get(), rstd.get(),
                                                       alpha.get(), phi.get(), N, n, C, handle);
  });
  add("mhc_projection_backward_weight", per_token * (D + 2 * K + 1) + f * (2 * D * K + 2 * K + 6), [&] {
    mhc::kernels::launch_mhc_projection_backward_weight(dphi.get(), dalpha.get(), dbias.get(), dtilde.get(), x.get(),
                                                        proj.get(), rstd.get(), alpha.get(), N, n, C, handle);
  });
  add("sinkhorn_forward (20 iterations)", per_token * 2 * nn,
      [&] { mhc::kernels::launch_sinkhorn_forward(h_out.get(), logits.get(), N, n, kIters, handle); });
  add("sinkhorn_backward (20 iterations)", per_token * 3 * nn,
      [&] { mhc::kernels::launch_sinkhorn_backward(dh2.get(), dh.get(), logits.get(), N, n, kIters, handle); });
  check(cudaStreamSynchronize(s), "cudaStreamSynchronize");
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: mhc_cuda_bench OUT.json\n");
    return 2;
  }
  try {
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    cudaStream_t s = nullptr;
    check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
    // Keep the stream-ordered pool's memory between calls (the weight backward's scratch), as a trainer would.
    cudaMemPool_t pool;
    check(cudaDeviceGetDefaultMemPool(&pool, 0), "cudaDeviceGetDefaultMemPool");
    std::uint64_t keep = std::numeric_limits<std::uint64_t>::max();
    check(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep), "cudaMemPoolSetAttribute");

    FILE* json = std::fopen(argv[1], "w");
    if (json == nullptr) {
      std::fprintf(stderr, "mhc_cuda_bench: cannot write %s\n", argv[1]);
      return 1;
    }
    std::fprintf(json,
                 "{\n  \"gpu\": \"%s\",\n  \"tokens\": %lld,\n  \"streams\": %d,\n  \"sinkhorn_iters\": %d,\n"
                 "  \"warmup\": %d,\n  \"repeats\": %d,\n  \"statistic\": \"median\",\n  \"cases\": [",
                 prop.name, static_cast<long long>(kTokens), kStreams, kIters, kWarmup, kRepeats);
    bool first_case = true;
    for (const std::int64_t C : {2048, 768}) {
      const std::vector<Result> results = run_case(C, s);
      const double copy = results.front().gbps;
      std::printf("\n%s, N = %lld, n = %d, C = %lld (copy: %.0f GB/s)\n", prop.name, static_cast<long long>(kTokens),
                  kStreams, static_cast<long long>(C), copy);
      std::printf("  %-48s %12s %10s %9s %8s\n", "kernel", "MB moved", "ms", "GB/s", "% copy");
      std::fprintf(json, "%s\n    {\"C\": %lld, \"copy_gbps\": %.1f, \"kernels\": [", first_case ? "" : ",",
                   static_cast<long long>(C), copy);
      first_case = false;
      for (std::size_t k = 0; k < results.size(); ++k) {
        const Result& r = results[k];
        std::printf("  %-48s %12.1f %10.4f %9.1f %7.1f%%\n", r.name.c_str(), r.bytes / 1e6, r.ms, r.gbps,
                    100.0 * r.gbps / copy);
        std::fprintf(json,
                     "%s\n      {\"name\": \"%s\", \"bytes\": %.0f, \"median_ms\": %.5f, \"gbps\": %.1f, "
                     "\"pct_of_copy\": %.1f}",
                     k == 0 ? "" : ",", r.name.c_str(), r.bytes, r.ms, r.gbps, 100.0 * r.gbps / copy);
      }
      std::fprintf(json, "\n    ]}");
    }
    std::fprintf(json, "\n  ]\n}\n");
    std::fclose(json);
    cudaStreamDestroy(s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mhc_cuda_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
