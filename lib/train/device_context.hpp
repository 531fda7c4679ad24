// The GPU of a process whose config says parallel.device "cuda" (train, bench step, eval, sample): one set-up for all.
#pragma once

#include <memory>

#include "config/config.hpp"
#include "core/device_runtime.hpp"
#include "core/stream.hpp"

namespace mhc::train {

// For parallel.device "cuda": the process's GPU (local_device_index()), its compute stream current on this thread
// while this lives (every allocation and op ordered on it), and parallel.matmul applied. For "cpu": nothing
// (runtime is null).
struct DeviceContext {
  explicit DeviceContext(const config::Config& cfg);
  std::unique_ptr<DeviceRuntime> runtime;
  StreamGuard guard;
};

}  // namespace mhc::train
