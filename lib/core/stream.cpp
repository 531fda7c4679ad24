// Thread-local current stream; the process-wide sync-debug switch.
#include "core/stream.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace mhc {

namespace {
thread_local StreamHandle g_current_stream{};

std::atomic<bool>& sync_debug_flag() {
  static std::atomic<bool> flag{[] {
    const char* v = std::getenv("MHC_CUDA_SYNC_DEBUG");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }()};
  return flag;
}
}  // namespace

StreamHandle current_stream() { return g_current_stream; }

StreamGuard::StreamGuard(StreamHandle s) : previous_(g_current_stream) { g_current_stream = s; }

StreamGuard::~StreamGuard() { g_current_stream = previous_; }

bool cuda_sync_debug() { return sync_debug_flag().load(std::memory_order_relaxed); }

void set_cuda_sync_debug(bool on) { sync_debug_flag().store(on, std::memory_order_relaxed); }

}  // namespace mhc
