// DeviceRuntime of the CUDA build: device selection, three streams, events between them.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>

#include "core/device_runtime.hpp"
#include "core/error.hpp"

namespace mhc {

namespace {

void check(cudaError_t e, const char* call, int device) {
  MHC_CHECK(e == cudaSuccess, DeviceError, call, " (device ", device, ") failed: ", cudaGetErrorString(e));
}

cudaStream_t native(StreamHandle s) { return static_cast<cudaStream_t>(s.native); }

StreamHandle make_stream(int priority, int device) {
  cudaStream_t s = nullptr;
  check(cudaStreamCreateWithPriority(&s, cudaStreamNonBlocking, priority), "cudaStreamCreateWithPriority", device);
  return StreamHandle{s};
}

// The first of these variables that is set (Open MPI, MPICH/Intel MPI, Slurm); -1 when none is.
int env_local_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"})
    if (const char* v = std::getenv(name)) return std::atoi(v);
  return -1;
}

}  // namespace

bool cuda_backend_built() { return true; }

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();  // no driver / no device: not an error for a query
    return 0;
  }
  return count;
}

std::int64_t cuda_free_memory(int device) {
  const int count = cuda_device_count();
  MHC_CHECK(count > 0, DeviceError, "parallel.device \"cuda\": no CUDA device is visible");
  MHC_CHECK(device >= 0 && device < count, DeviceError, "CUDA device ", device, " out of range [0, ", count, ")");
  int current = 0;
  check(cudaGetDevice(&current), "cudaGetDevice", device);
  check(cudaSetDevice(device), "cudaSetDevice", device);
  std::size_t free = 0, total = 0;
  const cudaError_t e = cudaMemGetInfo(&free, &total);
  check(cudaSetDevice(current), "cudaSetDevice", current);
  check(e, "cudaMemGetInfo", device);
  return static_cast<std::int64_t>(free);
}

DeviceRuntime::DeviceRuntime(int device) : device_(device) {
  const int count = cuda_device_count();
  MHC_CHECK(count > 0, DeviceError, "parallel.device \"cuda\": no CUDA device is visible");
  MHC_CHECK(device >= 0 && device < count, DeviceError, "CUDA device ", device, " out of range [0, ", count, ")");
  check(cudaSetDevice(device), "cudaSetDevice", device);
  int least = 0, greatest = 0;
  check(cudaDeviceGetStreamPriorityRange(&least, &greatest), "cudaDeviceGetStreamPriorityRange", device);
  compute_ = make_stream(least, device);
  compute_high_ = make_stream(greatest, device);
  comm_ = make_stream(least, device);
}

DeviceRuntime::~DeviceRuntime() {
  for (StreamHandle s : {compute_, compute_high_, comm_})
    if (s.native != nullptr) {
      cudaStreamSynchronize(native(s));
      cudaStreamDestroy(native(s));
    }
}

void DeviceRuntime::order(StreamHandle producer, StreamHandle waiter) const {
  if (producer.native == waiter.native) return;
  cudaEvent_t e = nullptr;
  check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreateWithFlags", device_);
  const cudaError_t rec = cudaEventRecord(e, native(producer));
  const cudaError_t wait = rec == cudaSuccess ? cudaStreamWaitEvent(native(waiter), e, 0) : rec;
  cudaEventDestroy(e);  // legal once waited on: the wait keeps the recorded point
  check(wait, "cudaEventRecord/cudaStreamWaitEvent", device_);
}

void DeviceRuntime::synchronize() const {
  for (StreamHandle s : {compute_, compute_high_, comm_})
    check(cudaStreamSynchronize(native(s)), "cudaStreamSynchronize", device_);
}

std::string DeviceRuntime::describe() const {
  cudaDeviceProp p{};
  check(cudaGetDeviceProperties(&p, device_), "cudaGetDeviceProperties", device_);
  char memory[32];
  std::snprintf(memory, sizeof memory, "%.1f GiB", static_cast<double>(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
  return detail::concat(p.name, ", device ", device_, " of ", cuda_device_count(), ", sm_", p.major, p.minor, ", ",
                        memory);
}

int local_device_index() {
  const int count = cuda_device_count();
  MHC_CHECK(count > 0, DeviceError, "parallel.device \"cuda\": no CUDA device is visible");
  const int local = env_local_rank();
  return local < 0 ? 0 : local % count;
}

}  // namespace mhc
