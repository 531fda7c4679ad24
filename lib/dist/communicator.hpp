// Communicators between the ranks of a job: point-to-point bytes, deterministic sums, broadcast, split; the world.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace mhc::dist {

// A failed or misused communication: a peer or root out of range, a tag out of range, a receive whose size differs
// from the message's, a receive no send can match in a single process, a failed MPI call.
class CommError : public Error {
  using Error::Error;
};

namespace detail {
// What a communicator keeps about a pending transfer; each implementation derives its own.
struct RequestState {
  virtual ~RequestState() = default;
};
struct RequestAccess;  // lets the communicator implementations reach a Request's state
}  // namespace detail

// A pending non-blocking transfer; move-only; default = none (inactive). It stays active until wait() or a test()
// that returns true. Destroying an active request abandons it: a pending receive is cancelled, a pending send is
// left to finish on its own (its buffer may still be read until the peer has received it).
class Request {
 public:
  Request();
  Request(Request&&) noexcept;
  Request& operator=(Request&&) noexcept;
  ~Request();
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;
  bool active() const;

 private:
  friend struct detail::RequestAccess;
  std::unique_ptr<detail::RequestState> state_;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Non-blocking point-to-point of raw bytes; buffers stay valid (isend: unchanged) until wait/test completes.
  // Tags are >= 0; up to 2^20 is portable (MPI guarantees only MPI_TAG_UB, checked: CommError naming the tag).
  // Messages between the same two ranks with the same tag arrive in the order they were sent. The receive's byte
  // count must equal the message's (CommError on wait/test otherwise).
  virtual Request isend(const void* data, std::int64_t bytes, int peer, int tag) = 0;
  virtual Request irecv(void* data, std::int64_t bytes, int peer, int tag) = 0;
  virtual void wait(Request& r) = 0;  // no-op on an inactive request; CommError on a size mismatch
  virtual bool test(Request& r) = 0;  // true when complete (then inactive); true for an inactive request
  // In-place elementwise sum over every rank of this communicator; identical bits on every rank: rank 0 adds the
  // ranks' values in rank order, ((x0 + x1) + x2) + ..., then broadcasts the result.
  virtual void allreduce_sum(float* data, std::int64_t count) = 0;
  virtual void allreduce_sum(double* data, std::int64_t count) = 0;
  virtual void broadcast(void* data, std::int64_t bytes, int root) = 0;
  virtual void barrier() = 0;
  // Ranks passing the same color (>= 0) form a new communicator, ordered by key then by rank here (MPI_Comm_split).
  // Collective over this communicator.
  virtual std::unique_ptr<Communicator> split(int color, int key) = 0;
};

// Waits for every request in order (inactive ones are skipped); all are inactive afterwards, also when one throws.
void wait_all(Communicator& comm, std::vector<Request>& requests);

// A communicator of one process: rank 0 of size 1. isend/irecv to itself match by tag in memory (the send copies
// its bytes, so it completes at once); waiting on a receive that no send has matched throws CommError (it would
// never complete). allreduce_sum, broadcast and barrier have nothing to do.
std::unique_ptr<Communicator> make_local_communicator();

// The job's world: an MPI communicator when this build has MPI and the process was launched by an MPI launcher
// (OMPI_COMM_WORLD_SIZE / PMI_SIZE / PMIX_RANK in the environment), else a single-process one (size 1; isend/irecv
// to itself match by tag in memory). Initialises MPI (MPI_THREAD_FUNNELED) on first use; finalised at exit.
Communicator& world();
// Whether world() is (or will be) an MPI communicator. Does not initialise MPI.
bool world_is_mpi();
// The number of processes the launcher started, from the environment (1 when not launched by an MPI launcher);
// does not initialise MPI. Equals world().size() when world_is_mpi().
int launched_world_size();
// This process's rank among them, from the environment (0 when not launched by an MPI launcher).
int launched_world_rank();

// Ends every process of the job (MPI_Abort on the world when MPI is up, else std::exit) after `message` was written
// to stderr as "error (rank R of S): message". Only app/ calls this.
[[noreturn]] void abort_job(const std::string& message, int exit_code);

// Largest byte count one MPI message carries (default 2^30); longer transfers and broadcasts are split into
// message_chunks(bytes, max_message_bytes()) messages. Tests lower it to exercise the splitting; it must be the
// same on every rank. Throws CommError unless bytes >= 1 and bytes <= 2^31 - 1.
void set_max_message_bytes(std::int64_t bytes);
std::int64_t max_message_bytes();
// The message sizes a transfer of `bytes` is split into: floor(bytes / limit) full messages of `limit` bytes and a
// last one of bytes % limit (possibly 0). Every message but the last being full and the last being short lets the
// receiver detect any difference between the sent and the expected size on the first message where they differ.
std::vector<std::int64_t> message_chunks(std::int64_t bytes, std::int64_t limit);

}  // namespace mhc::dist
