// The CUDA runtime of one process: its GPU, a compute, a high-priority compute and a communication stream, and the
// ordering of work between them. A build without CUDA has the same API and throws DeviceError when asked for a GPU.
#pragma once

#include <cstdint>
#include <string>

#include "core/stream.hpp"

namespace mhc {

// True when this build has the CUDA backend (the CUDA simulator build included), whether or not a GPU is visible.
bool cuda_backend_built();

// Visible CUDA devices; 0 in a build without CUDA or on a machine without a GPU (never throws).
int cuda_device_count();

// Free memory of GPU `device` in bytes (cudaMemGetInfo); DeviceError when there is no such device.
std::int64_t cuda_free_memory(int device);

class DeviceRuntime {
 public:
  // Makes GPU `device` current for the calling thread (cudaSetDevice) and creates the three streams (non-blocking
  // with respect to the legacy default stream). DeviceError naming the index when this build has no CUDA, no GPU is
  // visible, or `device` is out of range.
  explicit DeviceRuntime(int device);
  ~DeviceRuntime();
  DeviceRuntime(const DeviceRuntime&) = delete;
  DeviceRuntime& operator=(const DeviceRuntime&) = delete;

  int device() const { return device_; }
  // Where training work runs; ops launch on current_stream(), so callers set it with a StreamGuard.
  StreamHandle compute() const { return compute_; }
  // The same kind of work at the highest stream priority: kernels whose output a pending send waits for (the MLP's
  // post+res in the DualPipe overlap) so that they are not queued behind the other direction's compute.
  StreamHandle compute_high() const { return compute_high_; }
  // Inter-GPU communication (NCCL).
  StreamHandle comm() const { return comm_; }

  // Work queued on `waiter` from now on starts after all work queued on `producer` so far (an event between them;
  // the host does not block).
  void order(StreamHandle producer, StreamHandle waiter) const;
  // Blocks the host until the three streams are idle; DeviceError with the CUDA error of failed asynchronous work.
  void synchronize() const;
  // "NVIDIA H200, device 0 of 1, sm_90, 139.8 GiB".
  std::string describe() const;

 private:
  int device_ = 0;
  StreamHandle compute_, compute_high_, comm_;
};

// The GPU a process of an MPI launch uses: its node-local rank modulo the visible devices (0 when not launched by
// MPI). DeviceError when no GPU is visible.
int local_device_index();

}  // namespace mhc
