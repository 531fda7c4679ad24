// The execution stream ops launch on: a thread-local handle, null for the CPU and for CUDA's default stream.
#pragma once

namespace mhc {

// Opaque native stream (a cudaStream_t on the CUDA backend); the CPU backend ignores it.
struct StreamHandle {
  void* native = nullptr;
};

// The stream the calling thread's ops use.
StreamHandle current_stream();

// Sets the calling thread's stream for its lifetime, then restores the previous one.
class StreamGuard {
 public:
  explicit StreamGuard(StreamHandle s);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  StreamHandle previous_;
};

}  // namespace mhc
