// Device memory hooks of the CUDA build: cudaMalloc/cudaFree, copies and fills ordered on the calling thread's current
// stream (core/stream.hpp), and stream-ordered scratch (DeviceScratch), with errors turned into DeviceError.
#include <cuda_runtime.h>

#include "core/arena.hpp"
#include "core/copy.hpp"
#include "core/device_scratch.hpp"
#include "core/stream.hpp"

namespace mhc {

namespace {
cudaStream_t stream() { return static_cast<cudaStream_t>(current_stream().native); }
}  // namespace

void* device_malloc(std::int64_t bytes) {
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, static_cast<std::size_t>(bytes));
  MHC_CHECK(e == cudaSuccess, DeviceError, "cudaMalloc of ", bytes, " bytes failed: ", cudaGetErrorString(e));
  return p;
}

// The memory may still be used by queued work: finish it first (arenas are freed rarely, at teardown).
void device_free(void* p) noexcept {
  cudaDeviceSynchronize();
  cudaFree(p);
}

// Stream-ordered: later work on the current stream sees zeros; the host does not wait.
void device_memset_zero(void* p, std::int64_t bytes) {
  const cudaError_t e = cudaMemsetAsync(p, 0, static_cast<std::size_t>(bytes), stream());
  MHC_CHECK(e == cudaSuccess, DeviceError, "cudaMemsetAsync of ", bytes, " bytes failed: ", cudaGetErrorString(e));
}

// After the work queued on the current stream, and complete when this returns (the host waits).
void device_copy_bytes(void* dst, const void* src, std::int64_t bytes) {
  cudaError_t e = cudaMemcpyAsync(dst, src, static_cast<std::size_t>(bytes), cudaMemcpyDefault, stream());
  if (e == cudaSuccess) e = cudaStreamSynchronize(stream());
  MHC_CHECK(e == cudaSuccess, DeviceError, "copy of ", bytes, " bytes failed: ", cudaGetErrorString(e));
}

DeviceScratch::DeviceScratch(std::int64_t bytes, StreamHandle stream, const char* what) : stream_(stream) {
  MHC_CHECK(bytes >= 1, ShapeError, what, ": scratch of ", bytes, " bytes");
  const cudaStream_t s = static_cast<cudaStream_t>(stream.native);
  const cudaError_t e = cudaMallocAsync(&ptr_, static_cast<std::size_t>(bytes), s);
  if (e == cudaSuccess) return;
  cudaGetLastError();  // clear the failure, so that the next launch check does not report it
  ptr_ = nullptr;
  pooled_ = false;
  const cudaError_t e2 = cudaMalloc(&ptr_, static_cast<std::size_t>(bytes));
  if (e2 != cudaSuccess) {
    ptr_ = nullptr;
    cudaGetLastError();
    throw DeviceError(detail::concat(what, ": scratch of ", bytes, " bytes: cudaMallocAsync failed (",
                                     cudaGetErrorString(e), "), cudaMalloc failed (", cudaGetErrorString(e2), ")"));
  }
}

// Failures here resurface at the next checked call.
DeviceScratch::~DeviceScratch() {
  if (ptr_ == nullptr) return;
  const cudaStream_t s = static_cast<cudaStream_t>(stream_.native);
  if (pooled_) {
    cudaFreeAsync(ptr_, s);
  } else {
    cudaStreamSynchronize(s);
    cudaFree(ptr_);
  }
}

}  // namespace mhc
