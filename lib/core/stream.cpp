// Thread-local current stream.
#include "core/stream.hpp"

namespace mhc {

namespace {
thread_local StreamHandle g_current_stream{};
}

StreamHandle current_stream() { return g_current_stream; }

StreamGuard::StreamGuard(StreamHandle s) : previous_(g_current_stream) { g_current_stream = s; }

StreamGuard::~StreamGuard() { g_current_stream = previous_; }

}  // namespace mhc
