// The NCCL communicator (built only with CUDA and NCCL): grouped stream-ordered transfers, sums, broadcast, split.
#include "dist/communicator_nccl.hpp"

#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "core/stream.hpp"
#include "dist/communicator_impl.hpp"

#if NCCL_VERSION_CODE < NCCL_VERSION(2, 18, 0)
#error "the NCCL communicator needs NCCL >= 2.18 (ncclCommSplit)"
#endif

namespace mhc::dist {

namespace {

using detail::RequestAccess;
using mhc::detail::concat;

void check_cuda(cudaError_t e, const std::string& what) {
  if (e != cudaSuccess) throw CommError(what + ": " + cudaGetErrorString(e));
}

std::string nccl_text(ncclResult_t rc, ncclComm_t comm) {
  std::string text = ncclGetErrorString(rc);
  const char* last = ncclGetLastError(comm);
  if (last != nullptr && *last != '\0') text += concat(" (", last, ")");
  return text;
}

void check_nccl(ncclResult_t rc, const std::string& what, ncclComm_t comm) {
  if (rc != ncclSuccess) throw CommError(what + ": " + nccl_text(rc, comm));
}

// Makes `device` the calling thread's current device for its lifetime. Never throws: a failure here shows in the
// CUDA or NCCL call that follows.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    cudaGetDevice(&previous_);
    if (previous_ != device) cudaSetDevice(device);
  }
  ~DeviceGuard() { cudaSetDevice(previous_); }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

class Event {
 public:
  Event() { check_cuda(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming), "cudaEventCreateWithFlags"); }
  ~Event() { cudaEventDestroy(event_); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

// An owned ncclComm_t: destroyed (flushing its pending work), or aborted when NCCL reported an error.
class CommHandle {
 public:
  explicit CommHandle(ncclComm_t comm, int device) : comm_(comm), device_(device) {}
  ~CommHandle() {
    DeviceGuard guard(device_);
    ncclResult_t async = ncclSuccess;
    if (ncclCommGetAsyncError(comm_, &async) != ncclSuccess || (async != ncclSuccess && async != ncclInProgress)) {
      ncclCommAbort(comm_);
    } else {
      ncclCommDestroy(comm_);
    }
  }
  CommHandle(const CommHandle&) = delete;
  CommHandle& operator=(const CommHandle&) = delete;
  ncclComm_t get() const { return comm_; }

 private:
  ncclComm_t comm_;
  int device_;
};

// The outcome of one group of transfers, shared by its Requests: the event recorded on the communication stream
// after the group (null while the group is open), or why the group was not enqueued.
struct GroupCompletion {
  std::unique_ptr<Event> done;
  std::string failure;
  bool open() const { return done == nullptr && failure.empty(); }
};

struct NcclRequestState : detail::RequestState {
  std::shared_ptr<GroupCompletion> group;
  std::string what;
};

struct Transfer {
  bool is_recv = false;
  void* data = nullptr;
  std::int64_t bytes = 0;
  int peer = 0, tag = 0;

  std::string describe() const {
    return concat(is_recv ? "irecv of " : "isend of ", bytes, is_recv ? " bytes from rank " : " bytes to rank ", peer,
                  " with tag ", tag);
  }
};

cudaStream_t current_cuda_stream() { return static_cast<cudaStream_t>(current_stream().native); }

class NcclCommunicatorImpl final : public NcclCommunicator {
 public:
  // Takes ownership of comm, also when it throws.
  NcclCommunicatorImpl(ncclComm_t comm, int device, cudaStream_t stream)
      : comm_(comm, device), device_(device), stream_(stream) {
    DeviceGuard guard(device_);
    check_nccl(ncclCommUserRank(comm_.get(), &rank_), "ncclCommUserRank", comm_.get());
    check_nccl(ncclCommCount(comm_.get(), &size_), "ncclCommCount", comm_.get());
    ready_ = std::make_unique<Event>();
    done_ = std::make_unique<Event>();
    check_cuda(cudaMalloc(&scratch_, sizeof(float)), "cudaMalloc of the barrier's scratch float");
    check_cuda(cudaMemsetAsync(scratch_, 0, sizeof(float), stream_), "cudaMemsetAsync of the barrier's scratch float");
    check_cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize after zeroing the barrier's scratch float");
  }
  ~NcclCommunicatorImpl() override {
    if (group_ != nullptr) group_->failure = "the communicator was destroyed before group_end()";
    DeviceGuard guard(device_);
    cudaFree(scratch_);
  }
  NcclCommunicatorImpl(const NcclCommunicatorImpl&) = delete;
  NcclCommunicatorImpl& operator=(const NcclCommunicatorImpl&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int device() const override { return device_; }
  cudaStream_t stream() const override { return stream_; }

  Request isend(const void* data, std::int64_t bytes, int peer, int tag) override {
    return post(Transfer{false, const_cast<void*>(data), bytes, peer, tag}, "isend");
  }
  Request irecv(void* data, std::int64_t bytes, int peer, int tag) override {
    return post(Transfer{true, data, bytes, peer, tag}, "irecv");
  }

  void group_begin() override {
    if (group_ != nullptr) throw CommError("group_begin: a group is already open (groups do not nest)");
    group_ = std::make_shared<GroupCompletion>();
    transfers_.clear();
  }

  void group_end() override {
    if (group_ == nullptr) throw CommError("group_end: no group is open");
    const std::shared_ptr<GroupCompletion> group = std::move(group_);
    group_.reset();
    const std::vector<Transfer> transfers = std::move(transfers_);
    transfers_.clear();
    try {
      check_self_pairs(transfers);
      enqueue(transfers, *group);
    } catch (const std::exception& e) {
      group->failure = e.what();
      throw;
    }
  }

  void wait(Request& r) override {
    if (!r.active()) return;
    NcclRequestState& state = state_of(r, "wait");
    if (state.group->open()) {
      throw CommError(concat("wait: the ", state.what, " is in the open group; call group_end() first"));
    }
    const std::shared_ptr<GroupCompletion> group = state.group;
    const std::string what = state.what;
    RequestAccess::clear(r);
    if (!group->failure.empty()) throw CommError(concat("wait: the ", what, " was not enqueued: ", group->failure));
    DeviceGuard guard(device_);
    check_cuda(cudaStreamWaitEvent(current_cuda_stream(), group->done->get(), 0),
               concat("wait: cudaStreamWaitEvent for the ", what));
  }

  bool test(Request& r) override {
    if (!r.active()) return true;
    NcclRequestState& state = state_of(r, "test");
    if (state.group->open()) return false;
    const std::shared_ptr<GroupCompletion> group = state.group;
    const std::string what = state.what;
    if (!group->failure.empty()) {
      RequestAccess::clear(r);
      throw CommError(concat("test: the ", what, " was not enqueued: ", group->failure));
    }
    DeviceGuard guard(device_);
    const cudaError_t e = cudaEventQuery(group->done->get());
    if (e == cudaErrorNotReady) {
      check_async_error(concat("test of the ", what));
      return false;
    }
    RequestAccess::clear(r);
    check_cuda(e, concat("test: cudaEventQuery for the ", what));
    return true;
  }

  void allreduce_sum(float* data, std::int64_t count) override { sum(data, count, ncclFloat); }
  void allreduce_sum(double* data, std::int64_t count) override { sum(data, count, ncclDouble); }

  void broadcast(void* data, std::int64_t bytes, int root) override {
    detail::check_buffer("broadcast", data, bytes);
    detail::check_peer("broadcast (root)", root, size_);
    check_no_group("broadcast");
    check_device_buffer("broadcast", data, bytes);
    if (bytes == 0) return;
    DeviceGuard guard(device_);
    stream_follows_current();
    check_nccl(ncclBroadcast(data, data, static_cast<std::size_t>(bytes), ncclUint8, root, comm_.get(), stream_),
               concat("ncclBroadcast of ", bytes, " bytes from rank ", root), comm_.get());
    current_follows_stream();
  }

  void barrier() override {
    check_no_group("barrier");
    DeviceGuard guard(device_);
    stream_follows_current();
    check_nccl(ncclAllReduce(scratch_, scratch_, 1, ncclFloat, ncclSum, comm_.get(), stream_),
               "barrier: ncclAllReduce", comm_.get());
    // Polls instead of cudaStreamSynchronize so that a failed peer ends in a CommError, not a hang.
    for (;;) {
      const cudaError_t e = cudaStreamQuery(stream_);
      if (e != cudaErrorNotReady) {
        check_cuda(e, "barrier: cudaStreamQuery");
        return;
      }
      check_async_error("barrier");
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }

  std::unique_ptr<Communicator> split(int color, int key) override {
    if (color < 0) throw CommError(concat("split: color must be >= 0, got ", color));
    check_no_group("split");
    DeviceGuard guard(device_);
    ncclComm_t part = nullptr;
    check_nccl(ncclCommSplit(comm_.get(), color, key, &part, nullptr), "ncclCommSplit", comm_.get());
    return std::make_unique<NcclCommunicatorImpl>(part, device_, stream_);
  }

 private:
  // Checks a transfer and records it in the open group; outside a group, posts it as a group of its own.
  Request post(const Transfer& t, const char* op) {
    detail::check_buffer(op, t.data, t.bytes);
    detail::check_peer(op, t.peer, size_);
    if (t.tag < 0) throw CommError(concat(op, ": tag ", t.tag, " is negative"));
    check_device_buffer(op, t.data, t.bytes);
    const bool own_group = group_ == nullptr;
    if (own_group && t.peer == rank_) {
      throw CommError(concat(op, ": a transfer to itself (rank ", rank_,
                             ") must be posted between group_begin() and group_end() with its matching ",
                             t.is_recv ? "isend" : "irecv"));
    }
    if (own_group) group_begin();
    auto state = std::make_unique<NcclRequestState>();
    state->group = group_;
    state->what = t.describe();
    transfers_.push_back(t);
    Request r = RequestAccess::make(std::move(state));
    if (own_group) group_end();
    return r;
  }

  // The k-th send to itself and the k-th receive from itself are one NCCL transfer: same size and tag, both here.
  void check_self_pairs(const std::vector<Transfer>& transfers) const {
    std::vector<const Transfer*> sends, recvs;
    for (const Transfer& t : transfers) {
      if (t.peer == rank_) (t.is_recv ? recvs : sends).push_back(&t);
    }
    for (std::size_t k = 0; k < std::min(sends.size(), recvs.size()); ++k) {
      if (sends[k]->bytes != recvs[k]->bytes || sends[k]->tag != recvs[k]->tag) {
        throw CommError(concat("group_end: transfer ", k, " to itself: the ", sends[k]->describe(), " and the ",
                               recvs[k]->describe(), " differ (sends and receives to itself pair up in posting order;",
                               " each pair needs the same size and tag)"));
      }
    }
    if (sends.size() != recvs.size()) {
      throw CommError(concat("group_end: ", sends.size(), " isend(s) to itself but ", recvs.size(),
                             " irecv(s) from itself in this group; each needs its partner in the same group"));
    }
  }

  // Enqueues the transfers as one NCCL group on stream_, after the current stream's work, and records its event.
  void enqueue(const std::vector<Transfer>& transfers, GroupCompletion& group) {
    DeviceGuard guard(device_);
    stream_follows_current();
    check_nccl(ncclGroupStart(), "group_end: ncclGroupStart", comm_.get());
    ncclResult_t failed = ncclSuccess;
    std::string failed_what;
    for (const Transfer& t : transfers) {
      auto* p = static_cast<unsigned char*>(t.data);
      for (std::int64_t part : message_chunks(t.bytes, max_message_bytes())) {
        if (part == 0) continue;
        const auto n = static_cast<std::size_t>(part);
        failed = t.is_recv ? ncclRecv(p, n, ncclUint8, t.peer, comm_.get(), stream_)
                           : ncclSend(p, n, ncclUint8, t.peer, comm_.get(), stream_);
        if (failed != ncclSuccess) break;
        p += part;
      }
      if (failed != ncclSuccess) {
        failed_what = concat(t.is_recv ? "ncclRecv" : "ncclSend", " for the ", t.describe());
        break;
      }
    }
    const ncclResult_t ended = ncclGroupEnd();
    check_nccl(failed, "group_end: " + failed_what, comm_.get());
    check_nccl(ended, concat("group_end: ncclGroupEnd of ", transfers.size(), " transfer(s)"), comm_.get());
    auto done = std::make_unique<Event>();
    check_cuda(cudaEventRecord(done->get(), stream_), "group_end: cudaEventRecord");
    group.done = std::move(done);
  }

  template <typename T>
  void sum(T* data, std::int64_t count, ncclDataType_t type) {
    detail::check_buffer("allreduce_sum", data, count);
    check_no_group("allreduce_sum");
    check_device_buffer("allreduce_sum", data, count);
    if (count == 0) return;
    DeviceGuard guard(device_);
    stream_follows_current();
    check_nccl(ncclAllReduce(data, data, static_cast<std::size_t>(count), type, ncclSum, comm_.get(), stream_),
               concat("ncclAllReduce of ", count, " elements"), comm_.get());
    current_follows_stream();
  }

  // Throws CommError unless data is device memory on device_ (any non-null pointer when bytes == 0 is ignored).
  void check_device_buffer(const char* op, const void* data, std::int64_t bytes) const {
    if (bytes == 0) return;
    cudaPointerAttributes attributes{};
    const cudaError_t e = cudaPointerGetAttributes(&attributes, data);
    if (e != cudaSuccess) {
      cudaGetLastError();  // so that the next CUDA call does not report it again
      throw CommError(concat(op, ": the buffer is not device memory (", cudaGetErrorString(e), ")"));
    }
    const bool on_device = attributes.type == cudaMemoryTypeDevice || attributes.type == cudaMemoryTypeManaged;
    if (!on_device || attributes.device != device_) {
      throw CommError(concat(op, ": the buffer must be device memory on device ", device_, ", got ",
                             on_device ? concat("memory of device ", attributes.device) : std::string("host memory")));
    }
  }

  void check_no_group(const char* op) const {
    if (group_ != nullptr) throw CommError(concat(op, ": not allowed while a group is open; call group_end() first"));
  }

  // NCCL's asynchronous error (a failed peer or network), as CommError.
  void check_async_error(const std::string& op) const {
    ncclResult_t async = ncclSuccess;
    check_nccl(ncclCommGetAsyncError(comm_.get(), &async), op + ": ncclCommGetAsyncError", comm_.get());
    if (async != ncclSuccess && async != ncclInProgress) {
      throw CommError(op + ": NCCL reports an asynchronous error: " + nccl_text(async, comm_.get()));
    }
  }

  // stream_ waits for the work enqueued so far on the calling thread's current stream.
  void stream_follows_current() {
    const cudaStream_t current = current_cuda_stream();
    if (current == stream_) return;
    check_cuda(cudaEventRecord(ready_->get(), current), "cudaEventRecord on the current stream");
    check_cuda(cudaStreamWaitEvent(stream_, ready_->get(), 0), "cudaStreamWaitEvent of the communication stream");
  }

  // The calling thread's current stream waits for the work enqueued so far on stream_.
  void current_follows_stream() {
    const cudaStream_t current = current_cuda_stream();
    if (current == stream_) return;
    check_cuda(cudaEventRecord(done_->get(), stream_), "cudaEventRecord on the communication stream");
    check_cuda(cudaStreamWaitEvent(current, done_->get(), 0), "cudaStreamWaitEvent of the current stream");
  }

  static NcclRequestState& state_of(Request& r, const char* op) {
    auto* state = dynamic_cast<NcclRequestState*>(RequestAccess::get(r));
    if (state == nullptr) throw CommError(concat(op, ": the request does not come from an NCCL communicator"));
    return *state;
  }

  CommHandle comm_;  // first: destroyed last, also when the constructor throws
  int device_;
  cudaStream_t stream_;
  int rank_ = 0, size_ = 1;
  std::unique_ptr<Event> ready_, done_;  // current stream -> stream_, stream_ -> current stream
  void* scratch_ = nullptr;              // the barrier's one float
  std::shared_ptr<GroupCompletion> group_;  // the open group, null when none
  std::vector<Transfer> transfers_;         // recorded in the open group
};

// What rank 0 broadcasts to start: the id, or why it could not make one.
struct IdMessage {
  int ok = 0;
  ncclUniqueId id{};
  char error[256] = {};
};

}  // namespace

std::unique_ptr<NcclCommunicator> make_nccl_communicator(Communicator& bootstrap, int device,
                                                         cudaStream_t comm_stream) {
  // Every rank learns whether every rank can go on before any enters ncclCommInitRank, which would wait forever
  // for a rank that failed; rank 0 makes the id (which starts NCCL's rendezvous thread) only then.
  std::string local_error;
  int devices = 0;
  if (const cudaError_t e = cudaGetDeviceCount(&devices); e != cudaSuccess) {
    local_error = concat("cudaGetDeviceCount: ", cudaGetErrorString(e));
  } else if (device < 0 || device >= devices) {
    local_error = concat("device ", device, " does not exist (", devices, " CUDA device(s) visible)");
  }
  double failures = local_error.empty() ? 0.0 : 1.0;
  bootstrap.allreduce_sum(&failures, 1);
  if (!local_error.empty()) throw CommError("make_nccl_communicator: " + local_error);
  if (failures > 0) throw CommError(concat("make_nccl_communicator: ", failures, " other rank(s) failed to start"));

  IdMessage message;
  if (bootstrap.rank() == 0) {
    const ncclResult_t rc = ncclGetUniqueId(&message.id);
    message.ok = rc == ncclSuccess ? 1 : 0;
    const std::string text = rc == ncclSuccess ? std::string() : "ncclGetUniqueId: " + nccl_text(rc, nullptr);
    std::strncpy(message.error, text.c_str(), sizeof(message.error) - 1);
  }
  bootstrap.broadcast(&message, static_cast<std::int64_t>(sizeof(message)), 0);
  if (message.ok == 0) throw CommError(concat("make_nccl_communicator: rank 0 failed: ", message.error));

  DeviceGuard guard(device);
  ncclComm_t comm = nullptr;
  check_nccl(ncclCommInitRank(&comm, bootstrap.size(), message.id, bootstrap.rank()),
             concat("ncclCommInitRank (rank ", bootstrap.rank(), " of ", bootstrap.size(), ", device ", device, ")"),
             nullptr);
  return std::make_unique<NcclCommunicatorImpl>(comm, device, comm_stream);
}

}  // namespace mhc::dist
