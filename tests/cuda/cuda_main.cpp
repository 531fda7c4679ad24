// Main of the [cuda] tests: returns 77 (ctest SKIP_RETURN_CODE) when no CUDA device is visible, else runs Catch2.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cuda_runtime.h>

#include <cstdio>

int main(int argc, char** argv) {
  int devices = 0;
  const cudaError_t e = cudaGetDeviceCount(&devices);
  if (e != cudaSuccess || devices == 0) {
    std::printf("[cuda] tests skipped: no CUDA device (%s)\n",
                e == cudaSuccess ? "0 devices" : cudaGetErrorString(e));
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
