// DeviceContext: DeviceRuntime + StreamGuard + the matmul precision of a config.
#include "train/device_context.hpp"

#include "ops/matmul.hpp"

namespace mhc::train {

DeviceContext::DeviceContext(const config::Config& cfg)
    : runtime(cfg.parallel.device == Device::cuda ? std::make_unique<DeviceRuntime>(local_device_index())
                                                         : nullptr),
      guard(runtime ? runtime->compute() : StreamHandle{}) {
  if (runtime) ops::set_cuda_matmul_precision(cfg.parallel.matmul);
}

}  // namespace mhc::train
