// Device-side CUDA for the simulator: the qualifiers, the built-in indices, __syncthreads, warp shuffles and votes
// (with their mask rules checked), atomics and the math intrinsics our kernels use, as host C++.
//
// Each CUDA thread of a block is a fiber (cuda_sim/scheduler.cpp); __shared__ variables are function-local statics,
// shared by the fibers of the one block that runs at a time.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cuda_sim/vector_types.hpp"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ static
#define __constant__ static

namespace cuda_sim {

// The simulated thread's place in its launch.
struct ThreadPlace {
  dim3 thread_idx, block_idx, block_dim, grid_dim;
};

namespace detail {

const ThreadPlace& place();  // of the running fiber; a SimError outside a kernel

enum class WarpOp { shfl_idx, shfl_up, shfl_down, shfl_xor, ballot, any, all, syncwarp };

// A warp collective of the running fiber: waits until every lane of `mask` has made the same call, then returns
// the value that `op` gives this lane (shuffles: the source lane's bits; votes: the ballot of the predicates).
std::uint64_t warp_collective(WarpOp op, unsigned mask, std::uint64_t bits, int arg, int width, const char* file,
                              int line);
void syncthreads(const char* file, int line);
// Marks the running launch as order dependent (floating-point atomics): the race check does not compare it.
void note_order_dependent_atomic();

template <typename T>
std::uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a type wider than 8 bytes");
  std::uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <typename T>
T from_bits(std::uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}

}  // namespace detail

// Dynamic shared memory of the running block (the launch's smem bytes), as T*.
void* dynamic_shared_bytes();
template <typename T>
T* dynamic_shared() {
  return static_cast<T*>(dynamic_shared_bytes());
}

}  // namespace cuda_sim

#define threadIdx (::cuda_sim::detail::place().thread_idx)
#define blockIdx (::cuda_sim::detail::place().block_idx)
#define blockDim (::cuda_sim::detail::place().block_dim)
#define gridDim (::cuda_sim::detail::place().grid_dim)
constexpr int warpSize = 32;

// Call sites are recorded (file:line) so that a divergent barrier or a disagreeing shuffle names where it is.
#define __syncthreads \
  ::cuda_sim::BarrierAt { __FILE__, __LINE__ }
#define __syncwarp \
  ::cuda_sim::WarpCallAt { ::cuda_sim::detail::WarpOp::syncwarp, __FILE__, __LINE__ }
#define __shfl_sync \
  ::cuda_sim::WarpCallAt { ::cuda_sim::detail::WarpOp::shfl_idx, __FILE__, __LINE__ }
#define __shfl_up_sync \
  ::cuda_sim::WarpCallAt { ::cuda_sim::detail::WarpOp::shfl_up, __FILE__, __LINE__ }
#define __shfl_down_sync \
  ::cuda_sim::WarpCallAt { ::cuda_sim::detail::WarpOp::shfl_down, __FILE__, __LINE__ }
#define __shfl_xor_sync \
  ::cuda_sim::WarpCallAt { ::cuda_sim::detail::WarpOp::shfl_xor, __FILE__, __LINE__ }
#define __ballot_sync ::cuda_sim::WarpCallAt{::cuda_sim::detail::WarpOp::ballot, __FILE__, __LINE__}.vote
#define __any_sync ::cuda_sim::WarpCallAt{::cuda_sim::detail::WarpOp::any, __FILE__, __LINE__}.vote
#define __all_sync ::cuda_sim::WarpCallAt{::cuda_sim::detail::WarpOp::all, __FILE__, __LINE__}.vote

namespace cuda_sim {

struct BarrierAt {
  const char* file;
  int line;
  void operator()() const { detail::syncthreads(file, line); }
};

// One warp-level call: __syncwarp(mask), __shfl_*_sync(mask, value, lane/delta/lane mask[, width]) and the votes.
struct WarpCallAt {
  detail::WarpOp op;
  const char* file;
  int line;

  void operator()(unsigned mask = 0xffffffffu) const { detail::warp_collective(op, mask, 0, 0, 32, file, line); }
  template <typename T>
  T operator()(unsigned mask, T value, int arg, int width = 32) const {
    return detail::from_bits<T>(detail::warp_collective(op, mask, detail::to_bits(value), arg, width, file, line));
  }
  unsigned vote(unsigned mask, int predicate) const {
    return static_cast<unsigned>(detail::warp_collective(op, mask, predicate != 0 ? 1 : 0, 0, 32, file, line));
  }
};

}  // namespace cuda_sim

// ---- memory fences: blocks run one at a time, fibers switch only at collectives ----
inline void __threadfence() {}
inline void __threadfence_block() {}

// ---- atomics: fibers never interleave inside one ----
template <typename T>
T atomicAdd(T* address, T value) {
  if (std::is_floating_point<T>::value) ::cuda_sim::detail::note_order_dependent_atomic();
  const T old = *address;
  *address = old + value;
  return old;
}
template <typename T>
T atomicExch(T* address, T value) {
  const T old = *address;
  *address = value;
  return old;
}
template <typename T>
T atomicMax(T* address, T value) {
  const T old = *address;
  if (value > old) *address = value;
  return old;
}
template <typename T>
T atomicMin(T* address, T value) {
  const T old = *address;
  if (value < old) *address = value;
  return old;
}
template <typename T>
T atomicCAS(T* address, T compare, T value) {
  const T old = *address;
  if (old == compare) *address = value;
  return old;
}

// ---- math intrinsics (round-to-nearest forms are the plain IEEE operations; the sim is built without FMA
// contraction, -ffp-contract=off) ----
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __frcp_rn(float a) { return 1.0f / a; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline float __expf(float a) { return std::exp(a); }
inline float __logf(float a) { return std::log(a); }
inline float __powf(float a, float b) { return std::pow(a, b); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float a) { return a < 0.0f ? 0.0f : (a > 1.0f ? 1.0f : a); }
inline float rsqrtf(float a) { return 1.0f / std::sqrt(a); }
inline double rsqrt(double a) { return 1.0 / std::sqrt(a); }
inline int __float_as_int(float a) { return ::cuda_sim::detail::from_bits<int>(::cuda_sim::detail::to_bits(a)); }
inline float __int_as_float(int a) { return ::cuda_sim::detail::from_bits<float>(::cuda_sim::detail::to_bits(a)); }
inline unsigned __float_as_uint(float a) {
  return ::cuda_sim::detail::from_bits<unsigned>(::cuda_sim::detail::to_bits(a));
}
inline float __uint_as_float(unsigned a) {
  return ::cuda_sim::detail::from_bits<float>(::cuda_sim::detail::to_bits(a));
}
inline long long __double_as_longlong(double a) {
  return ::cuda_sim::detail::from_bits<long long>(::cuda_sim::detail::to_bits(a));
}
inline double __longlong_as_double(long long a) {
  return ::cuda_sim::detail::from_bits<double>(::cuda_sim::detail::to_bits(a));
}
inline int __popc(unsigned a) { return __builtin_popcount(a); }
inline int __clz(int a) { return a == 0 ? 32 : __builtin_clz(static_cast<unsigned>(a)); }
inline int __ffs(int a) { return __builtin_ffs(a); }
template <typename T>
T __ldg(const T* p) {
  return *p;
}
// CUDA's unqualified min/max overloads for device code.
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }
