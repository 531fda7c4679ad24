// DeviceRuntime of a build without CUDA: no device, and every attempt to use one is a DeviceError.
#include "core/device_runtime.hpp"

#include "core/error.hpp"

namespace mhc {

namespace {
[[noreturn]] void no_cuda(const char* what) {
  throw DeviceError(detail::concat(what, ": this build has no CUDA backend (configure with -DMHC_CUDA=ON)"));
}
}  // namespace

bool cuda_backend_built() { return false; }
int cuda_device_count() { return 0; }
std::int64_t cuda_free_memory(int) { no_cuda("parallel.device \"cuda\""); }

DeviceRuntime::DeviceRuntime(int) { no_cuda("DeviceRuntime"); }
DeviceRuntime::~DeviceRuntime() = default;
void DeviceRuntime::order(StreamHandle, StreamHandle) const { no_cuda("DeviceRuntime::order"); }
void DeviceRuntime::synchronize() const { no_cuda("DeviceRuntime::synchronize"); }
std::string DeviceRuntime::describe() const { return "no CUDA"; }
int local_device_index() { no_cuda("parallel.device \"cuda\""); }

}  // namespace mhc
