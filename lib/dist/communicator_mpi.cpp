// The MPI communicator (built only with MPI): chunked non-blocking bytes, rank-ordered sums, the MPI runtime.
#include <mpi.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "dist/communicator.hpp"
#include "dist/communicator_impl.hpp"

namespace mhc::dist::detail {

namespace {

using mhc::detail::concat;

constexpr int kReduceTag = 1;                            // on a communicator's private collective duplicate
constexpr std::int64_t kReduceSegmentBytes = 4 << 20;  // per rank buffered on rank 0 at a time

std::string mpi_error_text(int rc) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  return std::string(text, static_cast<std::size_t>(length));
}

void check_mpi(int rc, const std::string& what) {
  if (rc != MPI_SUCCESS) throw CommError(what + ": " + mpi_error_text(rc));
}

bool mpi_finalized() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  return finalized != 0;
}

// One transfer split into message_chunks: an MPI request per chunk, completed in order.
struct MpiRequestState : RequestState {
  bool is_recv = false;
  int peer = 0, tag = 0;
  std::int64_t bytes = 0;
  std::vector<std::int64_t> sizes;
  std::vector<MPI_Request> requests;
  std::size_t completed = 0;

  ~MpiRequestState() override {
    if (mpi_finalized()) return;
    for (std::size_t i = completed; i < requests.size(); ++i) {
      if (requests[i] == MPI_REQUEST_NULL) continue;
      if (is_recv) MPI_Cancel(&requests[i]);
      MPI_Request_free(&requests[i]);
    }
  }

  std::string describe() const {
    return concat(is_recv ? "irecv of " : "isend of ", bytes, is_recv ? " bytes from rank " : " bytes to rank ",
                  peer, " with tag ", tag);
  }

  // Checks chunk `completed` that MPI reported finished with rc and status, and moves on to the next.
  void finish_chunk(int rc, const MPI_Status& status) {
    if (rc == MPI_ERR_TRUNCATE || (rc == MPI_ERR_IN_STATUS && status.MPI_ERROR == MPI_ERR_TRUNCATE)) {
      throw CommError(describe() +
                      ": the message is larger than the receive (the send and the receive differ in size)");
    }
    check_mpi(rc, describe());
    if (is_recv) {
      int received = 0;
      MPI_Get_count(&status, MPI_BYTE, &received);
      if (received != sizes[completed]) {
        throw CommError(concat(describe(), ": message part ", completed, " has ", received, " bytes, expected ",
                               sizes[completed], " (the send and the receive differ in size)"));
      }
    }
    ++completed;
  }
};

std::unique_ptr<MpiRequestState> post(bool is_recv, void* data, std::int64_t bytes, int peer, int tag,
                                      MPI_Comm comm) {
  auto state = std::make_unique<MpiRequestState>();
  state->is_recv = is_recv;
  state->peer = peer;
  state->tag = tag;
  state->bytes = bytes;
  state->sizes = message_chunks(bytes, max_message_bytes());
  state->requests.assign(state->sizes.size(), MPI_REQUEST_NULL);
  auto* p = static_cast<unsigned char*>(data);
  std::int64_t offset = 0;
  for (std::size_t i = 0; i < state->sizes.size(); ++i) {
    const int n = static_cast<int>(state->sizes[i]);
    const int rc = is_recv ? MPI_Irecv(p + offset, n, MPI_BYTE, peer, tag, comm, &state->requests[i])
                           : MPI_Isend(p + offset, n, MPI_BYTE, peer, tag, comm, &state->requests[i]);
    check_mpi(rc, state->describe());
    offset += state->sizes[i];
  }
  return state;
}

void wait_all_chunks(MpiRequestState& state) {
  while (state.completed < state.requests.size()) {
    MPI_Status status;
    const int rc = MPI_Wait(&state.requests[state.completed], &status);
    state.finish_chunk(rc, status);
  }
}

class MpiCommunicator final : public Communicator {
 public:
  // Takes ownership of comm.
  explicit MpiCommunicator(MPI_Comm comm) : comm_(comm) {
    check_mpi(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    check_mpi(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    check_mpi(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
    check_mpi(MPI_Comm_dup(comm_, &coll_), "MPI_Comm_dup");
    check_mpi(MPI_Comm_set_errhandler(coll_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    int* tag_ub = nullptr;
    int flag = 0;
    MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &tag_ub, &flag);
    tag_ub_ = flag != 0 && tag_ub != nullptr ? *tag_ub : 32767;
  }
  ~MpiCommunicator() override {
    if (mpi_finalized()) return;
    MPI_Comm_free(&coll_);
    MPI_Comm_free(&comm_);
  }
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  Request isend(const void* data, std::int64_t bytes, int peer, int tag) override {
    check_p2p("isend", data, bytes, peer, tag);
    return RequestAccess::make(post(false, const_cast<void*>(data), bytes, peer, tag, comm_));
  }

  Request irecv(void* data, std::int64_t bytes, int peer, int tag) override {
    check_p2p("irecv", data, bytes, peer, tag);
    return RequestAccess::make(post(true, data, bytes, peer, tag, comm_));
  }

  void wait(Request& r) override {
    if (!r.active()) return;
    MpiRequestState& state = state_of(r, "wait");
    try {
      wait_all_chunks(state);
    } catch (...) {
      RequestAccess::clear(r);
      throw;
    }
    RequestAccess::clear(r);
  }

  bool test(Request& r) override {
    if (!r.active()) return true;
    MpiRequestState& state = state_of(r, "test");
    try {
      while (state.completed < state.requests.size()) {
        int flag = 0;
        MPI_Status status;
        const int rc = MPI_Test(&state.requests[state.completed], &flag, &status);
        if (rc == MPI_SUCCESS && flag == 0) return false;
        state.finish_chunk(rc, status);
      }
    } catch (...) {
      RequestAccess::clear(r);
      throw;
    }
    RequestAccess::clear(r);
    return true;
  }

  void allreduce_sum(float* data, std::int64_t count) override { sum_in_rank_order(data, count); }
  void allreduce_sum(double* data, std::int64_t count) override { sum_in_rank_order(data, count); }

  void broadcast(void* data, std::int64_t bytes, int root) override {
    check_buffer("broadcast", data, bytes);
    check_peer("broadcast (root)", root, size_);
    broadcast_on(comm_, data, bytes, root);
  }

  void barrier() override { check_mpi(MPI_Barrier(comm_), "MPI_Barrier"); }

  std::unique_ptr<Communicator> split(int color, int key) override {
    if (color < 0) throw CommError(concat("split: color must be >= 0, got ", color));
    MPI_Comm part = MPI_COMM_NULL;
    check_mpi(MPI_Comm_split(comm_, color, key, &part), "MPI_Comm_split");
    return std::make_unique<MpiCommunicator>(part);
  }

 private:
  void check_p2p(const char* op, const void* data, std::int64_t bytes, int peer, int tag) const {
    check_buffer(op, data, bytes);
    check_peer(op, peer, size_);
    if (tag < 0 || tag > tag_ub_) {
      throw CommError(concat(op, ": tag ", tag, " is outside [0, MPI_TAG_UB = ", tag_ub_, "]"));
    }
  }

  static MpiRequestState& state_of(Request& r, const char* op) {
    auto* state = dynamic_cast<MpiRequestState*>(RequestAccess::get(r));
    if (state == nullptr) throw CommError(concat(op, ": the request does not come from an MPI communicator"));
    return *state;
  }

  void broadcast_on(MPI_Comm comm, void* data, std::int64_t bytes, int root) const {
    auto* p = static_cast<unsigned char*>(data);
    for (std::int64_t size : message_chunks(bytes, max_message_bytes())) {
      if (size == 0) continue;
      check_mpi(MPI_Bcast(p, static_cast<int>(size), MPI_BYTE, root, comm), concat("broadcast of ", bytes, " bytes"));
      p += size;
    }
  }

  // Rank 0 receives every rank's values segment by segment and adds them in rank order, then broadcasts the sums:
  // the same bits on every rank whatever MPI's own reduction order would be.
  template <typename T>
  void sum_in_rank_order(T* data, std::int64_t count) {
    check_buffer("allreduce_sum", data, count);
    if (size_ == 1 || count == 0) return;
    const std::int64_t segment =
        std::min<std::int64_t>(count, kReduceSegmentBytes / static_cast<std::int64_t>(sizeof(T)));
    std::vector<T> incoming(rank_ == 0 ? static_cast<std::size_t>(segment) * static_cast<std::size_t>(size_ - 1) : 0);
    for (std::int64_t offset = 0; offset < count; offset += segment) {
      const std::int64_t n = std::min(segment, count - offset);
      const std::int64_t bytes = n * static_cast<std::int64_t>(sizeof(T));
      if (rank_ != 0) {
        wait_all_chunks(*post(false, data + offset, bytes, 0, kReduceTag, coll_));
        continue;
      }
      std::vector<std::unique_ptr<MpiRequestState>> posted;
      for (int r = 1; r < size_; ++r) {
        posted.push_back(post(true, incoming.data() + static_cast<std::size_t>((r - 1) * segment), bytes, r,
                              kReduceTag, coll_));
      }
      T* sum = data + offset;
      for (int r = 1; r < size_; ++r) {
        wait_all_chunks(*posted[static_cast<std::size_t>(r - 1)]);
        const T* in = incoming.data() + static_cast<std::size_t>((r - 1) * segment);
        for (std::int64_t i = 0; i < n; ++i) sum[i] += in[i];
      }
    }
    broadcast_on(coll_, data, count * static_cast<std::int64_t>(sizeof(T)), 0);
  }

  MPI_Comm comm_ = MPI_COMM_NULL;  // point-to-point and broadcast
  MPI_Comm coll_ = MPI_COMM_NULL;  // a duplicate for the sums' messages, apart from the user's tags
  int rank_ = 0, size_ = 1, tag_ub_ = 32767;
};

// Initialises MPI when first used; finalises it at exit when it did the initialisation.
class MpiRuntime {
 public:
  MpiRuntime() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized == 0) {
      int provided = 0;
      check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owns_mpi_ = true;
    }
    MPI_Comm dup = MPI_COMM_NULL;
    check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &dup), "MPI_Comm_dup");
    world_ = std::make_unique<MpiCommunicator>(dup);
  }
  ~MpiRuntime() {
    world_.reset();
    if (owns_mpi_ && !mpi_finalized()) MPI_Finalize();
  }
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;
  Communicator& world() { return *world_; }

 private:
  bool owns_mpi_ = false;
  std::unique_ptr<Communicator> world_;
};

}  // namespace

Communicator& mpi_world() {
  static MpiRuntime runtime;
  return runtime.world();
}

bool mpi_is_up() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  return initialized != 0 && !mpi_finalized();
}

void mpi_abort_world(int exit_code) {
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::exit(exit_code);
}

}  // namespace mhc::dist::detail
