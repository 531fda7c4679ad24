// Test support for code that takes raw device pointers (the NCCL communicator): checked CUDA calls and an owned
// device buffer.
#pragma once

#include <catch2/catch.hpp>

#include <cuda_runtime.h>

#include <cstdint>

namespace mhc::test {

inline void cuda_ok(cudaError_t e) {
  INFO(cudaGetErrorString(e));
  REQUIRE(e == cudaSuccess);
}

// A device buffer of `bytes` (at least one byte is allocated, so get() is a valid device pointer even for 0).
class DeviceBytes {
 public:
  explicit DeviceBytes(std::int64_t bytes) {
    cuda_ok(cudaMalloc(&data_, static_cast<std::size_t>(bytes > 0 ? bytes : 1)));
  }
  ~DeviceBytes() { cudaFree(data_); }
  DeviceBytes(const DeviceBytes&) = delete;
  DeviceBytes& operator=(const DeviceBytes&) = delete;
  void* get() const { return data_; }

 private:
  void* data_ = nullptr;
};

}  // namespace mhc::test
