// The execution stream ops launch on (a thread-local handle, null for the CPU and for CUDA's default stream) and the
// sync-debug switch of kernel launches.
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

// Sync-debug: after every kernel launch the device is synchronised, so that a kernel that fails while running is
// reported by name (kernels::check_launch) instead of by a later, unrelated call. Slow; off unless the environment
// has MHC_CUDA_SYNC_DEBUG=1 at the first query, or set_cuda_sync_debug(true) is called.
bool cuda_sync_debug();
void set_cuda_sync_debug(bool on);

}  // namespace mhc
