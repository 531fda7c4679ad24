// Stream-ordered device scratch memory, for kernel launchers and op entry points whose signature has no workspace
// argument. A build without CUDA has the same class and throws DeviceError on construction.
#pragma once

#include <cstdint>

#include "core/stream.hpp"

namespace mhc {

// cudaMallocAsync on `stream` at construction, cudaFreeAsync on the same stream at destruction: work queued on that
// stream in between may use the memory, which returns to the pool only after that work finishes. Where
// stream-ordered allocation fails (no memory-pool support), falls back to cudaMalloc, and then synchronizes the
// stream before cudaFree. bytes >= 1 (ShapeError otherwise, naming `what`); DeviceError when both allocations fail.
class DeviceScratch {
 public:
  DeviceScratch(std::int64_t bytes, StreamHandle stream, const char* what);
  ~DeviceScratch();
  DeviceScratch(const DeviceScratch&) = delete;
  DeviceScratch& operator=(const DeviceScratch&) = delete;

  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  StreamHandle stream_;
  void* ptr_ = nullptr;
  bool pooled_ = true;  // from cudaMallocAsync
};

}  // namespace mhc
