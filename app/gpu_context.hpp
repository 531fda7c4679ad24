// The GPU of a single-process command (bench step, eval, sample) when its config says parallel.device "cuda".
#pragma once

#include <memory>

#include "config/config.hpp"
#include "core/device_runtime.hpp"
#include "core/stream.hpp"

namespace mhc::app {

// For parallel.device "cuda": the process's GPU (local_device_index()), its compute stream current while this lives,
// and parallel.matmul applied. For "cpu": nothing (runtime is null).
struct GpuContext {
  explicit GpuContext(const config::Config& cfg);
  std::unique_ptr<DeviceRuntime> runtime;
  StreamGuard guard;
};

}  // namespace mhc::app
