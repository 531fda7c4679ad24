// Device memory hooks for builds without CUDA: any request for device memory is an error.
#include "core/arena.hpp"
#include "core/copy.hpp"
#include "core/device_scratch.hpp"

namespace mhc {

void* device_malloc(std::int64_t bytes) {
  throw DeviceError(detail::concat("device_malloc: ", bytes,
                                   " bytes requested, but this build has no CUDA backend (configure with -DMHC_CUDA=ON)"));
}

void device_free(void*) noexcept {}

void device_memset_zero(void*, std::int64_t) {
  throw DeviceError("device_memset_zero: this build has no CUDA backend");
}

void device_copy_bytes(void*, const void*, std::int64_t) {
  throw DeviceError("device_copy_bytes: this build has no CUDA backend");
}

DeviceScratch::DeviceScratch(std::int64_t bytes, StreamHandle, const char* what) {
  throw DeviceError(detail::concat(what, ": device scratch of ", bytes, " bytes requested, but this build has no CUDA ",
                                   "backend (configure with -DMHC_CUDA=ON)"));
}

DeviceScratch::~DeviceScratch() = default;

}  // namespace mhc
