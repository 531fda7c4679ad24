// Device memory hooks for builds without CUDA: any request for device memory is an error.
#include "core/arena.hpp"
#include "core/copy.hpp"

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

}  // namespace mhc
