// The CUDA simulator's cuda_runtime.h: the subset of the CUDA runtime API that mhc-train uses, run on the CPU.
// Device memory is host memory from cudaMalloc's table; streams are ordered queues whose work runs when the host
// waits on them (cudaStreamSynchronize, cudaDeviceSynchronize, a blocking copy, a query); kernels launched through
// mhc::kernels::launch run block by block with one fiber per CUDA thread (cuda_sim/scheduler.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "cuda_sim/device.hpp"
#include "cuda_sim/vector_types.hpp"

#define CUDA_SIM 1

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorNotReady = 600,
  cudaErrorLaunchFailure = 719,
  cudaErrorNotSupported = 801,
};
using cudaError = cudaError_t;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

enum cudaMemoryType { cudaMemoryTypeUnregistered = 0, cudaMemoryTypeHost = 1, cudaMemoryTypeDevice = 2 };
struct cudaPointerAttributes {
  cudaMemoryType type = cudaMemoryTypeUnregistered;
  int device = 0;
  void* devicePointer = nullptr;
  void* hostPointer = nullptr;
};

enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
enum cudaDeviceAttr {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMaxSharedMemoryPerBlock = 8,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};

struct cudaDeviceProp {
  char name[256];
  std::size_t totalGlobalMem;
  std::size_t sharedMemPerBlock;
  std::size_t sharedMemPerBlockOptin;
  int major, minor;
  int multiProcessorCount;
  int maxThreadsPerBlock;
  int warpSize;
};

struct CUstream_st;
struct CUevent_st;
using cudaStream_t = CUstream_st*;
using cudaEvent_t = CUevent_st*;

constexpr unsigned int cudaStreamDefault = 0, cudaStreamNonBlocking = 1;
constexpr unsigned int cudaEventDefault = 0, cudaEventBlockingSync = 1, cudaEventDisableTiming = 2;

// ---- errors and devices ----
const char* cudaGetErrorString(cudaError_t e);
const char* cudaGetErrorName(cudaError_t e);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
cudaError_t cudaDeviceGetStreamPriorityRange(int* least, int* greatest);
cudaError_t cudaDeviceSynchronize();

// ---- memory ----
cudaError_t cudaMalloc(void** ptr, std::size_t bytes);
template <typename T>
cudaError_t cudaMalloc(T** ptr, std::size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(ptr), bytes);
}
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMallocAsync(void** ptr, std::size_t bytes, cudaStream_t stream);
template <typename T>
cudaError_t cudaMallocAsync(T** ptr, std::size_t bytes, cudaStream_t stream) {
  return cudaMallocAsync(reinterpret_cast<void**>(ptr), bytes, stream);
}
cudaError_t cudaFreeAsync(void* ptr, cudaStream_t stream);
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* ptr, int value, std::size_t bytes);
cudaError_t cudaMemsetAsync(void* ptr, int value, std::size_t bytes, cudaStream_t stream = nullptr);
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attributes, const void* ptr);
cudaError_t cudaMemGetInfo(std::size_t* free, std::size_t* total);

// ---- streams and events ----
cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags);
cudaError_t cudaStreamCreateWithPriority(cudaStream_t* stream, unsigned int flags, int priority);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamQuery(cudaStream_t stream);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags = 0);
cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventQuery(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);

// ---- kernels ----
namespace cuda_sim::detail {
cudaError_t set_max_dynamic_shared(const void* kernel, int bytes);
// The device memory a kernel may reach: the allocations its pointer arguments point into, or every allocation
// when an argument is a class (which may hold pointers).
struct Reach {
  bool everything = false;
  std::vector<const void*> pointers;
};
// Queues a launch of kernel `name` on `stream` after checking its configuration (an invalid one is the launch
// error). `run_thread` runs one CUDA thread's body.
void enqueue_launch(const char* name, const void* kernel, dim3 grid, dim3 block, std::size_t shared_bytes,
                    cudaStream_t stream, Reach reach, std::function<void()> run_thread);
// Queues host work on `stream` (the library stand-ins: cuBLASLt, CUB); it runs in stream order.
void enqueue_work(cudaStream_t stream, std::function<void()> work);
// True when [ptr, ptr + bytes) lies inside one device allocation.
bool is_device_range(const void* ptr, std::size_t bytes);
// Records a failure of queued work as the sticky error (a kernel fault on a GPU) and prints it.
void fail(const std::string& message);

template <typename P>
void add_reach(Reach& reach, const P& value) {
  if constexpr (std::is_pointer<P>::value) {
    reach.pointers.push_back(static_cast<const void*>(value));
  } else if constexpr (!std::is_arithmetic<P>::value && !std::is_enum<P>::value) {
    reach.everything = true;
  }
}
}  // namespace cuda_sim::detail

template <typename Kernel>
cudaError_t cudaFuncSetAttribute(Kernel* kernel, cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return cudaErrorInvalidValue;
  return cuda_sim::detail::set_max_dynamic_shared(reinterpret_cast<const void*>(kernel), value);
}

namespace cuda_sim {

// What `kernel<<<grid, block, shared_bytes, stream>>>(args...)` does under nvcc: the arguments are converted to the
// kernel's parameter types now (as a launch copies them) and the launch is queued on the stream.
template <typename... Params, typename... Args>
void launch(const char* name, void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared_bytes,
            cudaStream_t stream, Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "kernel launched with the wrong number of arguments");
  auto params = std::make_shared<std::tuple<std::decay_t<Params>...>>(
      static_cast<std::decay_t<Params>>(std::forward<Args>(args))...);
  detail::Reach reach;
  std::apply([&reach](const auto&... p) { (detail::add_reach(reach, p), ...); }, *params);
  detail::enqueue_launch(name, reinterpret_cast<const void*>(kernel), grid, block, shared_bytes, stream,
                         std::move(reach), [kernel, params] { std::apply(kernel, *params); });
}

}  // namespace cuda_sim

// Simulator controls for tests (cuda_sim/runtime.cpp).
namespace cuda_sim {
// Clears a sticky error (a failed kernel), as a new context would; returns the error it cleared.
cudaError_t reset_error();
// The simulator's description of the last kernel failure ("" when none).
const char* last_failure();
// The race check: every launch runs twice, with the threads of each block in ascending and then descending order,
// and any difference in device memory is a failure (on by default; CUDA_SIM_RACECHECK=0 turns it off).
void set_race_check(bool on);
bool race_check();
}  // namespace cuda_sim
