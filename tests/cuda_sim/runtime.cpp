// The simulated CUDA runtime: device allocations (host memory, filled with NaN bytes when allocated), streams as
// ordered queues drained when the host waits, events, launch checks, grid execution and the race check.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "scheduler.hpp"

struct CUstream_st {
  std::deque<std::function<void()>> queue;
  std::uint64_t queued = 0, done = 0;  // work items ever queued / run
  int priority = 0;
};

struct CUevent_st {
  CUstream_st* stream = nullptr;
  std::uint64_t seq = 0;  // complete when stream->done >= seq
  bool recorded = false;
};

namespace cuda_sim {

namespace {

using detail::SimFailure;

constexpr std::size_t kDefaultShared = 48 * 1024;
constexpr std::size_t kOptinShared = 232448;                  // an H100/H200's per-block opt-in limit
constexpr std::size_t kDeviceMemory = std::size_t(16) << 30;  // what the simulated device offers
constexpr std::size_t kAllocationAlignment = 256;             // as cudaMalloc

struct State {
  std::recursive_mutex mutex;
  std::map<std::uintptr_t, std::size_t> allocations;  // start -> bytes
  std::size_t allocated = 0;
  std::set<CUstream_st*> streams;
  CUstream_st legacy;  // stream 0
  std::map<const void*, int> max_dynamic_shared;
  cudaError_t last_error = cudaSuccess;    // of the last API call that failed (cleared by cudaGetLastError)
  cudaError_t sticky_error = cudaSuccess;  // a kernel failure: every later call reports it
  std::string failure;
  bool race_check = true;
  bool order_dependent = false;  // the running launch used floating-point atomics
  std::vector<unsigned char> dynamic_shared;
  int device = 0;

  State() {
    const char* v = std::getenv("CUDA_SIM_RACECHECK");
    race_check = v == nullptr || std::strcmp(v, "0") != 0;
  }
};

State& state() {
  static State* s = new State();  // never destroyed: stream work may be drained at exit
  return *s;
}

using Lock = std::lock_guard<std::recursive_mutex>;

cudaError_t record(cudaError_t e) {
  if (e != cudaSuccess) state().last_error = e;
  return e;
}

// The sticky error, else `e` (recorded).
cudaError_t result(cudaError_t e = cudaSuccess) {
  if (state().sticky_error != cudaSuccess) return state().sticky_error;
  return record(e);
}

CUstream_st* resolve(cudaStream_t s) { return s == nullptr ? &state().legacy : s; }

void run_item(CUstream_st* s) {
  std::function<void()> work = std::move(s->queue.front());
  s->queue.pop_front();
  ++s->done;
  if (state().sticky_error != cudaSuccess) return;  // a failed context runs nothing more
  try {
    work();
  } catch (const std::exception& e) {
    detail::fail(e.what());
  }
}

// Runs the work of `s` up to item `seq` (everything when seq is the queued count).
void drain(CUstream_st* s, std::uint64_t seq) {
  while (s->done < seq && !s->queue.empty()) run_item(s);
}
void drain(CUstream_st* s) { drain(s, s->queued); }

void drain_all() {
  State& st = state();
  bool more = true;
  while (more) {
    more = false;
    drain(&st.legacy);
    for (CUstream_st* s : st.streams) {
      if (!s->queue.empty()) more = true;
      drain(s);
    }
  }
}

void enqueue(cudaStream_t stream, std::function<void()> work) {
  CUstream_st* s = resolve(stream);
  s->queue.push_back(std::move(work));
  ++s->queued;
}

// The allocation holding [p, p + bytes), or allocations.end().
std::map<std::uintptr_t, std::size_t>::iterator find_allocation(const void* p, std::size_t bytes) {
  auto& a = state().allocations;
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  auto it = a.upper_bound(address);
  if (it == a.begin()) return a.end();
  --it;
  if (address + bytes > it->first + it->second || address < it->first) return a.end();
  return it;
}

bool known_stream(cudaStream_t s) { return s == nullptr || state().streams.count(s) != 0; }

cudaError_t allocate(void** ptr, std::size_t bytes) {
  State& st = state();
  if (ptr == nullptr) return cudaErrorInvalidValue;
  const std::size_t rounded =
      std::max<std::size_t>((bytes + kAllocationAlignment - 1) / kAllocationAlignment, 1) * kAllocationAlignment;
  if (st.allocated + rounded > kDeviceMemory) return cudaErrorMemoryAllocation;
  void* p = std::aligned_alloc(kAllocationAlignment, rounded);
  if (p == nullptr) return cudaErrorMemoryAllocation;
  std::memset(p, 0xff, rounded);  // uninitialised floats and doubles read as NaN
  // The table holds the requested size, so that an access past it is out of range (and ASan sees the rest).
  st.allocations.emplace(reinterpret_cast<std::uintptr_t>(p), std::max<std::size_t>(bytes, 1));
  st.allocated += rounded;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t release(void* p) {
  State& st = state();
  auto it = st.allocations.find(reinterpret_cast<std::uintptr_t>(p));
  if (it == st.allocations.end()) return cudaErrorInvalidDevicePointer;
  st.allocated -=
      std::max<std::size_t>((it->second + kAllocationAlignment - 1) / kAllocationAlignment, 1) * kAllocationAlignment;
  st.allocations.erase(it);
  std::free(p);
  return cudaSuccess;
}

// Bytes of each allocation a launch may reach.
struct Snapshot {
  std::vector<std::pair<std::uintptr_t, std::vector<unsigned char>>> regions;
};

Snapshot take_snapshot(const detail::Reach& reach) {
  Snapshot snap;
  std::set<std::uintptr_t> starts;
  if (reach.everything) {
    for (const auto& a : state().allocations) starts.insert(a.first);
  } else {
    for (const void* p : reach.pointers) {
      if (p == nullptr) continue;
      auto it = find_allocation(p, 0);
      if (it != state().allocations.end()) starts.insert(it->first);
    }
  }
  for (std::uintptr_t start : starts) {
    const std::size_t bytes = state().allocations.at(start);
    const auto* p = reinterpret_cast<const unsigned char*>(start);
    snap.regions.emplace_back(start, std::vector<unsigned char>(p, p + bytes));
  }
  return snap;
}

void restore(const Snapshot& snap) {
  for (const auto& r : snap.regions) std::memcpy(reinterpret_cast<void*>(r.first), r.second.data(), r.second.size());
}

void run_grid(const char* name, const std::function<void()>& body, dim3 grid, dim3 block, std::size_t shared,
              bool descending) {
  State& st = state();
  st.dynamic_shared.assign(std::max<std::size_t>(shared, 1), 0);
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        std::memset(st.dynamic_shared.data(), 0xff, st.dynamic_shared.size());  // uninitialised: NaN
        try {
          detail::scheduler().run_block(body, grid, block, dim3(x, y, z), descending);
        } catch (const SimFailure& e) {
          throw SimFailure(std::string(name) + ": " + e.what());
        }
      }
}

void run_launch(const char* name, const detail::Reach& reach, const std::function<void()>& body, dim3 grid, dim3 block,
                std::size_t shared) {
  State& st = state();
  for (std::size_t k = 0; k < reach.pointers.size(); ++k) {
    const void* p = reach.pointers[k];
    if (p != nullptr && find_allocation(p, 0) == st.allocations.end()) {
      std::ostringstream m;
      m << name << ": pointer argument " << p << " is not in device memory (a host pointer, or freed)";
      throw SimFailure(m.str());
    }
  }
  st.order_dependent = false;
  if (!st.race_check) {
    run_grid(name, body, grid, block, shared, false);
    return;
  }
  const Snapshot before = take_snapshot(reach);
  run_grid(name, body, grid, block, shared, false);
  if (st.order_dependent) return;
  const Snapshot ascending = take_snapshot(reach);
  restore(before);
  run_grid(name, body, grid, block, shared, true);
  for (const auto& r : ascending.regions) {
    const auto* now = reinterpret_cast<const unsigned char*>(r.first);
    if (std::memcmp(now, r.second.data(), r.second.size()) == 0) continue;
    std::size_t k = 0;
    while (now[k] == r.second[k]) ++k;
    std::ostringstream m;
    m << name << ": the result depends on the order in which the threads of a block run (byte " << k
      << " of the allocation at " << reinterpret_cast<const void*>(r.first)
      << " differs between ascending and descending thread order): a data race, e.g. a missing __syncthreads";
    throw SimFailure(m.str());
  }
}

}  // namespace

// ---- simulator controls ----

cudaError_t reset_error() {
  Lock lock(state().mutex);
  const cudaError_t e = state().sticky_error;
  state().sticky_error = cudaSuccess;
  state().last_error = cudaSuccess;
  state().failure.clear();
  for (CUstream_st* s : state().streams) s->done += s->queue.size(), s->queue.clear();
  state().legacy.done += state().legacy.queue.size();
  state().legacy.queue.clear();
  return e;
}

const char* last_failure() { return state().failure.c_str(); }
void set_race_check(bool on) {
  Lock lock(state().mutex);
  state().race_check = on;
}
bool race_check() { return state().race_check; }

void* dynamic_shared_bytes() { return state().dynamic_shared.data(); }

namespace detail {

void note_order_dependent_atomic() { state().order_dependent = true; }

void fail(const std::string& message) {
  State& st = state();
  if (st.sticky_error == cudaSuccess) {
    st.sticky_error = cudaErrorLaunchFailure;
    st.failure = message;
  }
  std::fprintf(stderr, "cuda_sim: %s\n", message.c_str());
}

cudaError_t set_max_dynamic_shared(const void* kernel, int bytes) {
  Lock lock(state().mutex);
  if (bytes < 0 || static_cast<std::size_t>(bytes) > kOptinShared) return record(cudaErrorInvalidValue);
  state().max_dynamic_shared[kernel] = bytes;
  return result();
}

void enqueue_launch(const char* name, const void* kernel, dim3 grid, dim3 block, std::size_t shared_bytes,
                    cudaStream_t stream, Reach reach, std::function<void()> run_thread) {
  Lock lock(state().mutex);
  State& st = state();
  const unsigned long long threads = static_cast<unsigned long long>(block.x) * block.y * block.z;
  std::size_t shared_limit = kDefaultShared;
  auto optin = st.max_dynamic_shared.find(kernel);
  if (optin != st.max_dynamic_shared.end()) shared_limit = std::max(shared_limit, std::size_t(optin->second));
  const bool valid = threads >= 1 && threads <= 1024 && block.x <= 1024 && block.y <= 1024 && block.z <= 64 &&
                     grid.x >= 1 && grid.x <= 2147483647u && grid.y >= 1 && grid.y <= 65535 && grid.z >= 1 &&
                     grid.z <= 65535 && shared_bytes <= shared_limit;
  if (!valid) {
    std::fprintf(stderr,
                 "cuda_sim: %s: invalid launch configuration: grid (%u,%u,%u), block (%u,%u,%u), %zu bytes of "
                 "dynamic shared memory (limit %zu)\n",
                 name, grid.x, grid.y, grid.z, block.x, block.y, block.z, shared_bytes, shared_limit);
    record(cudaErrorInvalidConfiguration);
    return;
  }
  if (!known_stream(stream)) {
    record(cudaErrorInvalidResourceHandle);
    return;
  }
  enqueue(stream, [name, reach = std::move(reach), body = std::move(run_thread), grid, block, shared_bytes] {
    run_launch(name, reach, body, grid, block, shared_bytes);
  });
}

void enqueue_work(cudaStream_t stream, std::function<void()> work) {
  Lock lock(state().mutex);
  enqueue(stream, std::move(work));
}

bool is_device_range(const void* ptr, std::size_t bytes) {
  Lock lock(state().mutex);
  return find_allocation(ptr, bytes) != state().allocations.end();
}

}  // namespace detail
}  // namespace cuda_sim

using namespace cuda_sim;

// ---- errors and devices ----

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess:
      return "cudaSuccess";
    case cudaErrorInvalidValue:
      return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation:
      return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration:
      return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer:
      return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidResourceHandle:
      return "cudaErrorInvalidResourceHandle";
    case cudaErrorNoDevice:
      return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice:
      return "cudaErrorInvalidDevice";
    case cudaErrorNotReady:
      return "cudaErrorNotReady";
    case cudaErrorLaunchFailure:
      return "cudaErrorLaunchFailure";
    case cudaErrorNotSupported:
      return "cudaErrorNotSupported";
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t e) {
  if (e == cudaErrorLaunchFailure && !state().failure.empty()) {
    static thread_local std::string text;
    text = "unspecified launch failure (cuda_sim: " + state().failure + ")";
    return text.c_str();
  }
  switch (e) {
    case cudaSuccess:
      return "no error";
    case cudaErrorInvalidValue:
      return "invalid argument";
    case cudaErrorMemoryAllocation:
      return "out of memory";
    case cudaErrorInvalidConfiguration:
      return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer:
      return "invalid device pointer";
    case cudaErrorInvalidResourceHandle:
      return "invalid resource handle";
    case cudaErrorNoDevice:
      return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice:
      return "invalid device ordinal";
    case cudaErrorNotReady:
      return "device not ready";
    case cudaErrorLaunchFailure:
      return "unspecified launch failure";
    case cudaErrorNotSupported:
      return "operation not supported";
  }
  return "unknown error";
}

cudaError_t cudaGetLastError() {
  Lock lock(state().mutex);
  if (state().sticky_error != cudaSuccess) return state().sticky_error;
  const cudaError_t e = state().last_error;
  state().last_error = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError() {
  Lock lock(state().mutex);
  return state().sticky_error != cudaSuccess ? state().sticky_error : state().last_error;
}

cudaError_t cudaGetDeviceCount(int* count) {
  if (count == nullptr) return record(cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  Lock lock(state().mutex);
  if (device != 0) return record(cudaErrorInvalidDevice);
  state().device = device;
  return result();
}

cudaError_t cudaGetDevice(int* device) {
  if (device == nullptr) return record(cudaErrorInvalidValue);
  *device = 0;
  return result();
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (prop == nullptr) return record(cudaErrorInvalidValue);
  if (device != 0) return record(cudaErrorInvalidDevice);
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "CUDA simulator (tests/cuda_sim)");
  prop->totalGlobalMem = kDeviceMemory;
  prop->sharedMemPerBlock = kDefaultShared;
  prop->sharedMemPerBlockOptin = kOptinShared;
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = 132;
  prop->maxThreadsPerBlock = 1024;
  prop->warpSize = 32;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (value == nullptr) return record(cudaErrorInvalidValue);
  if (device != 0) return record(cudaErrorInvalidDevice);
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock:
      *value = 1024;
      break;
    case cudaDevAttrMaxSharedMemoryPerBlock:
      *value = static_cast<int>(kDefaultShared);
      break;
    case cudaDevAttrMultiProcessorCount:
      *value = 132;
      break;
    case cudaDevAttrComputeCapabilityMajor:
      *value = 9;
      break;
    case cudaDevAttrComputeCapabilityMinor:
      *value = 0;
      break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin:
      *value = static_cast<int>(kOptinShared);
      break;
    default:
      return record(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

cudaError_t cudaDeviceGetStreamPriorityRange(int* least, int* greatest) {
  if (least != nullptr) *least = 0;
  if (greatest != nullptr) *greatest = -5;
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() {
  Lock lock(state().mutex);
  drain_all();
  return result();
}

// ---- memory ----

cudaError_t cudaMalloc(void** ptr, std::size_t bytes) {
  Lock lock(state().mutex);
  if (state().sticky_error != cudaSuccess) return state().sticky_error;
  return record(allocate(ptr, bytes));
}

cudaError_t cudaFree(void* ptr) {
  Lock lock(state().mutex);
  drain_all();  // cudaFree synchronises the device
  if (ptr == nullptr) return result();
  const cudaError_t e = release(ptr);
  return e != cudaSuccess ? record(e) : result();
}

cudaError_t cudaMallocAsync(void** ptr, std::size_t bytes, cudaStream_t stream) {
  Lock lock(state().mutex);
  if (!known_stream(stream)) return record(cudaErrorInvalidResourceHandle);
  if (state().sticky_error != cudaSuccess) return state().sticky_error;
  return record(allocate(ptr, bytes));
}

cudaError_t cudaFreeAsync(void* ptr, cudaStream_t stream) {
  Lock lock(state().mutex);
  if (!known_stream(stream)) return record(cudaErrorInvalidResourceHandle);
  if (ptr == nullptr) return result();
  if (state().allocations.count(reinterpret_cast<std::uintptr_t>(ptr)) == 0)
    return record(cudaErrorInvalidDevicePointer);
  enqueue(stream, [ptr] {
    if (release(ptr) != cudaSuccess) throw SimFailure("cudaFreeAsync: the pointer was freed twice");
  });
  return result();
}

namespace {

bool is_device(const void* p, std::size_t bytes) { return find_allocation(p, bytes) != state().allocations.end(); }

// Checks the copy's pointers against its kind; cudaErrorInvalidValue when a device side is not device memory.
cudaError_t check_copy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, bool* dst_device,
                       bool* src_device) {
  *dst_device = is_device(dst, bytes);
  *src_device = is_device(src, bytes);
  const bool ok = (kind == cudaMemcpyDefault) || (kind == cudaMemcpyHostToHost && !*dst_device && !*src_device) ||
                  (kind == cudaMemcpyHostToDevice && *dst_device && !*src_device) ||
                  (kind == cudaMemcpyDeviceToHost && !*dst_device && *src_device) ||
                  (kind == cudaMemcpyDeviceToDevice && *dst_device && *src_device);
  if (!ok)
    std::fprintf(stderr, "cuda_sim: cudaMemcpy of %zu bytes: kind %d does not match the pointers (dst %s, src %s)\n",
                 bytes, static_cast<int>(kind), *dst_device ? "device" : "host", *src_device ? "device" : "host");
  return ok ? cudaSuccess : cudaErrorInvalidValue;
}

}  // namespace

cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  Lock lock(state().mutex);
  drain_all();
  bool dd = false, sd = false;
  const cudaError_t e = check_copy(dst, src, bytes, kind, &dd, &sd);
  if (e != cudaSuccess) return record(e);
  if (state().sticky_error != cudaSuccess) return state().sticky_error;
  if (bytes > 0) std::memmove(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  Lock lock(state().mutex);
  if (!known_stream(stream)) return record(cudaErrorInvalidResourceHandle);
  bool dd = false, sd = false;
  const cudaError_t e = check_copy(dst, src, bytes, kind, &dd, &sd);
  if (e != cudaSuccess) return record(e);
  if (bytes == 0) return result();
  if (!dd) {
    // To pageable host memory the copy is synchronous: the stream's earlier work, then the copy, now.
    drain(resolve(stream));
    if (state().sticky_error == cudaSuccess) std::memmove(dst, src, bytes);
  } else if (!sd) {
    // From pageable host memory the source is staged at the call: the caller may reuse it at once.
    auto staged = std::make_shared<std::vector<unsigned char>>(static_cast<const unsigned char*>(src),
                                                               static_cast<const unsigned char*>(src) + bytes);
    enqueue(stream, [dst, staged] { std::memcpy(dst, staged->data(), staged->size()); });
  } else {
    enqueue(stream, [dst, src, bytes] { std::memmove(dst, src, bytes); });
  }
  return result();
}

cudaError_t cudaMemset(void* ptr, int value, std::size_t bytes) {
  Lock lock(state().mutex);
  drain_all();
  if (bytes > 0 && !is_device(ptr, bytes)) return record(cudaErrorInvalidValue);
  if (state().sticky_error != cudaSuccess) return state().sticky_error;
  if (bytes > 0) std::memset(ptr, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* ptr, int value, std::size_t bytes, cudaStream_t stream) {
  Lock lock(state().mutex);
  if (!known_stream(stream)) return record(cudaErrorInvalidResourceHandle);
  if (bytes == 0) return result();
  if (!is_device(ptr, bytes)) return record(cudaErrorInvalidValue);
  enqueue(stream, [ptr, value, bytes] { std::memset(ptr, value, bytes); });
  return result();
}

cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attributes, const void* ptr) {
  Lock lock(state().mutex);
  if (attributes == nullptr) return record(cudaErrorInvalidValue);
  *attributes = cudaPointerAttributes{};
  if (is_device(ptr, 0)) {
    attributes->type = cudaMemoryTypeDevice;
    attributes->devicePointer = const_cast<void*>(ptr);
  } else {
    attributes->hostPointer = const_cast<void*>(ptr);
  }
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(std::size_t* free, std::size_t* total) {
  Lock lock(state().mutex);
  if (free == nullptr || total == nullptr) return record(cudaErrorInvalidValue);
  *free = kDeviceMemory - state().allocated;
  *total = kDeviceMemory;
  return result();
}

// ---- streams and events ----

cudaError_t cudaStreamCreateWithPriority(cudaStream_t* stream, unsigned int, int priority) {
  Lock lock(state().mutex);
  if (stream == nullptr) return record(cudaErrorInvalidValue);
  auto* s = new CUstream_st();
  s->priority = priority;
  state().streams.insert(s);
  *stream = s;
  return result();
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  return cudaStreamCreateWithPriority(stream, flags, 0);
}
cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithPriority(stream, 0, 0); }

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  Lock lock(state().mutex);
  if (stream == nullptr || state().streams.count(stream) == 0) return record(cudaErrorInvalidResourceHandle);
  drain(stream);  // queued work still completes
  state().streams.erase(stream);
  delete stream;
  return result();
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  Lock lock(state().mutex);
  if (!known_stream(stream)) return record(cudaErrorInvalidResourceHandle);
  drain(resolve(stream));
  return result();
}

// Nothing runs in the background here, so a query makes the progress that a GPU would have made meanwhile.
cudaError_t cudaStreamQuery(cudaStream_t stream) { return cudaStreamSynchronize(stream); }

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int) {
  Lock lock(state().mutex);
  if (!known_stream(stream) || event == nullptr) return record(cudaErrorInvalidResourceHandle);
  if (!event->recorded) return result();  // waiting on a never-recorded event waits for nothing
  CUstream_st* producer = event->stream;
  const std::uint64_t seq = event->seq;
  enqueue(stream, [producer, seq] {
    if (state().streams.count(producer) != 0 || producer == &state().legacy) drain(producer, seq);
  });
  return result();
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int) {
  if (event == nullptr) return record(cudaErrorInvalidValue);
  *event = new CUevent_st();
  return result();
}
cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, 0); }

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  if (event == nullptr) return record(cudaErrorInvalidResourceHandle);
  delete event;
  return result();
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  Lock lock(state().mutex);
  if (event == nullptr || !known_stream(stream)) return record(cudaErrorInvalidResourceHandle);
  event->stream = resolve(stream);
  event->seq = event->stream->queued;
  event->recorded = true;
  return result();
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  Lock lock(state().mutex);
  if (event == nullptr) return record(cudaErrorInvalidResourceHandle);
  if (event->recorded) drain(event->stream, event->seq);
  return result();
}

cudaError_t cudaEventQuery(cudaEvent_t event) { return cudaEventSynchronize(event); }

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (ms == nullptr || start == nullptr || end == nullptr) return record(cudaErrorInvalidValue);
  *ms = 0.0f;  // the simulator has no device clock
  return result();
}
