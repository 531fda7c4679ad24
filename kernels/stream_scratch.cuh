// Stream-ordered device scratch memory for launchers whose op signature has no workspace argument.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/error.hpp"

namespace mhc::kernels {

// cudaMallocAsync on `stream` at construction, cudaFreeAsync on the same stream at destruction: kernels launched on
// that stream in between may use it, and the memory returns to the pool only after they finish. Where stream-ordered
// allocation fails (no memory-pool support), falls back to cudaMalloc, and then synchronizes the stream before
// cudaFree. bytes >= 1.
class StreamScratch {
 public:
  StreamScratch(std::int64_t bytes, cudaStream_t stream, const char* kernel) : stream_(stream) {
    MHC_CHECK(bytes >= 1, ShapeError, kernel, ": scratch of ", bytes, " bytes");
    const cudaError_t e = cudaMallocAsync(&ptr_, static_cast<std::size_t>(bytes), stream);
    if (e == cudaSuccess) return;
    cudaGetLastError();  // clear the failure, so that the next check_launch does not report it
    ptr_ = nullptr;
    pooled_ = false;
    const cudaError_t e2 = cudaMalloc(&ptr_, static_cast<std::size_t>(bytes));
    if (e2 != cudaSuccess) {
      ptr_ = nullptr;
      cudaGetLastError();
      throw DeviceError(detail::concat(kernel, ": scratch of ", bytes, " bytes: cudaMallocAsync failed (",
                                       cudaGetErrorString(e), "), cudaMalloc failed (", cudaGetErrorString(e2), ")"));
    }
  }
  ~StreamScratch() {
    if (ptr_ == nullptr) return;
    // Failures here resurface at the next checked call.
    if (pooled_) {
      cudaFreeAsync(ptr_, stream_);
    } else {
      cudaStreamSynchronize(stream_);
      cudaFree(ptr_);
    }
  }
  StreamScratch(const StreamScratch&) = delete;
  StreamScratch& operator=(const StreamScratch&) = delete;

  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  cudaStream_t stream_;
  void* ptr_ = nullptr;
  bool pooled_ = true;  // from cudaMallocAsync
};

}  // namespace mhc::kernels
