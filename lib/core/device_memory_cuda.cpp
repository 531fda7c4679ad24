// Device memory hooks of the CUDA build: plain cudaMalloc/cudaFree with errors turned into DeviceError.
#include <cuda_runtime.h>

#include "core/arena.hpp"
#include "core/copy.hpp"

namespace mhc {

void* device_malloc(std::int64_t bytes) {
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, static_cast<std::size_t>(bytes));
  MHC_CHECK(e == cudaSuccess, DeviceError, "cudaMalloc of ", bytes, " bytes failed: ", cudaGetErrorString(e));
  return p;
}

void device_free(void* p) noexcept { cudaFree(p); }

void device_memset_zero(void* p, std::int64_t bytes) {
  const cudaError_t e = cudaMemset(p, 0, static_cast<std::size_t>(bytes));
  MHC_CHECK(e == cudaSuccess, DeviceError, "cudaMemset of ", bytes, " bytes failed: ", cudaGetErrorString(e));
}

void device_copy_bytes(void* dst, const void* src, std::int64_t bytes) {
  const cudaError_t e = cudaMemcpy(dst, src, static_cast<std::size_t>(bytes), cudaMemcpyDefault);
  MHC_CHECK(e == cudaSuccess, DeviceError, "cudaMemcpy of ", bytes, " bytes failed: ", cudaGetErrorString(e));
}

}  // namespace mhc
