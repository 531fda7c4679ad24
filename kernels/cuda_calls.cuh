// Checked CUDA runtime calls for the launchers (errors become mhc::DeviceError) and stream-ordered scratch memory.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/error.hpp"

namespace mhc::kernels {

// Throws DeviceError naming `what` when a runtime call failed.
inline void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw DeviceError(detail::concat(what, " failed: ", cudaGetErrorString(e)));
}

// `floats` floats of device memory from the stream-ordered allocator (cudaMallocAsync on `stream`), given back with
// cudaFreeAsync on the same stream when the object goes out of scope, so kernels queued on the stream before that
// may still use it. For the per-block partial sums of the deterministic two-pass reductions.
class StreamScratch {
 public:
  StreamScratch(std::int64_t floats, cudaStream_t stream, const char* what) : stream_(stream) {
    MHC_CHECK(floats > 0, ShapeError, what, ": empty scratch request");
    check_cuda(
        cudaMallocAsync(reinterpret_cast<void**>(&data_), static_cast<std::size_t>(floats) * sizeof(float), stream),
        what);
  }
  ~StreamScratch() {
    if (data_ != nullptr) cudaFreeAsync(data_, stream_);  // errors here resurface at the next checked call
  }
  StreamScratch(const StreamScratch&) = delete;
  StreamScratch& operator=(const StreamScratch&) = delete;

  float* data() const { return data_; }

 private:
  float* data_ = nullptr;
  cudaStream_t stream_;
};

}  // namespace mhc::kernels
