// Request, the world (MPI or single-process), abort_job and the message splitting shared by the implementations.
#include "dist/communicator.hpp"

#include <atomic>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "dist/communicator_impl.hpp"

namespace mhc::dist {

Request::Request() = default;
Request::Request(Request&&) noexcept = default;
Request& Request::operator=(Request&&) noexcept = default;
Request::~Request() = default;
bool Request::active() const { return state_ != nullptr; }

namespace detail {

void check_peer(const char* op, int peer, int size) {
  if (peer < 0 || peer >= size) {
    throw CommError(mhc::detail::concat(op, ": peer ", peer, " out of range for a communicator of size ", size));
  }
}

void check_buffer(const char* op, const void* data, std::int64_t bytes) {
  if (bytes < 0) throw CommError(mhc::detail::concat(op, ": negative byte count ", bytes));
  if (bytes > 0 && data == nullptr) throw CommError(mhc::detail::concat(op, ": null buffer for ", bytes, " bytes"));
}

}  // namespace detail

namespace {

std::atomic<std::int64_t> g_max_message_bytes{std::int64_t{1} << 30};

// The first of the variables that is set, as an integer; `fallback` when none is.
int env_int(std::initializer_list<const char*> names, int fallback) {
  for (const char* name : names) {
    if (const char* v = std::getenv(name); v != nullptr && *v != '\0') return std::atoi(v);
  }
  return fallback;
}

bool launched_by_mpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr ||
         std::getenv("PMIX_RANK") != nullptr;
}

}  // namespace

void set_max_message_bytes(std::int64_t bytes) {
  if (bytes < 1 || bytes > INT_MAX) {
    throw CommError(mhc::detail::concat("set_max_message_bytes: ", bytes, " is not in [1, ", INT_MAX, "]"));
  }
  g_max_message_bytes = bytes;
}

std::int64_t max_message_bytes() { return g_max_message_bytes; }

std::vector<std::int64_t> message_chunks(std::int64_t bytes, std::int64_t limit) {
  if (bytes < 0 || limit < 1) {
    throw CommError(mhc::detail::concat("message_chunks: invalid bytes ", bytes, " or limit ", limit));
  }
  std::vector<std::int64_t> chunks(static_cast<std::size_t>(bytes / limit), limit);
  chunks.push_back(bytes % limit);
  return chunks;
}

void wait_all(Communicator& comm, std::vector<Request>& requests) {
  std::size_t i = 0;
  try {
    for (; i < requests.size(); ++i) comm.wait(requests[i]);
  } catch (...) {
    for (; i < requests.size(); ++i) requests[i] = Request();  // abandons the rest
    throw;
  }
}

bool world_is_mpi() {
#ifdef MHC_HAVE_MPI
  return launched_by_mpi();
#else
  return false;
#endif
}

Communicator& world() {
#ifdef MHC_HAVE_MPI
  if (world_is_mpi()) return detail::mpi_world();
#endif
  static const std::unique_ptr<Communicator> local = make_local_communicator();
  return *local;
}

int launched_world_size() {
  if (!launched_by_mpi()) return 1;
  return env_int({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS"}, 1);
}

int launched_world_rank() {
  if (!launched_by_mpi()) return 0;
  return env_int({"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"}, 0);
}

void abort_job(const std::string& message, int exit_code) {
  int rank = launched_world_rank(), size = launched_world_size();
#ifdef MHC_HAVE_MPI
  const bool mpi_up = detail::mpi_is_up();
  if (mpi_up) {
    rank = world().rank();
    size = world().size();
  }
#endif
  std::cout.flush();
  const std::string line = mhc::detail::concat("error (rank ", rank, " of ", size, "): ", message, "\n");
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
#ifdef MHC_HAVE_MPI
  if (mpi_up) detail::mpi_abort_world(exit_code);
#endif
  std::exit(exit_code);
}

}  // namespace mhc::dist
