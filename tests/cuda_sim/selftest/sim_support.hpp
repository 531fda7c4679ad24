// Support for the simulator's own tests: device buffers, and running a launch to the failure it must report.
#pragma once

#include <catch2/catch.hpp>
#include <cuda_runtime.h>

#include <cstddef>
#include <string>
#include <vector>

namespace cuda_sim::test {

// A device array of n T, freed at scope exit.
template <typename T>
class DeviceArray {
 public:
  explicit DeviceArray(std::size_t n) : n_(n) { REQUIRE(cudaMalloc(&p_, n * sizeof(T)) == cudaSuccess); }
  DeviceArray(const std::vector<T>& host) : DeviceArray(host.size()) {
    REQUIRE(cudaMemcpy(p_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess);
  }
  ~DeviceArray() { cudaFree(p_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  T* get() const { return p_; }
  std::vector<T> download() const {
    std::vector<T> h(n_);
    REQUIRE(cudaMemcpy(h.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
    return h;
  }

 private:
  T* p_ = nullptr;
  std::size_t n_;
};

// Waits for the queued work, expects it to have failed with a message containing `expected`, and clears the
// failure (a fresh context) for the next test.
inline void require_failure(const std::string& expected) {
  const cudaError_t e = cudaDeviceSynchronize();
  const std::string message = last_failure();
  reset_error();
  INFO("simulator failure: " << message);
  REQUIRE(e == cudaErrorLaunchFailure);
  CHECK(message.find(expected) != std::string::npos);
}

}  // namespace cuda_sim::test
