// Internals shared by the communicator implementations (not for use outside lib/dist).
#pragma once

#include <memory>
#include <string>

#include "dist/communicator.hpp"

namespace mhc::dist::detail {

struct RequestAccess {
  static RequestState* get(const Request& r) { return r.state_.get(); }
  static Request make(std::unique_ptr<RequestState> state) {
    Request r;
    r.state_ = std::move(state);
    return r;
  }
  static void clear(Request& r) { r.state_.reset(); }
};

// Throws CommError unless 0 <= peer < size, naming the operation.
void check_peer(const char* op, int peer, int size);
// Throws CommError unless bytes >= 0 and data is non-null when bytes > 0.
void check_buffer(const char* op, const void* data, std::int64_t bytes);

#ifdef MHC_HAVE_MPI
// communicator_mpi.cpp: MPI_Init_thread on first call, MPI_Finalize at exit; the world's communicator.
Communicator& mpi_world();
// Whether MPI_Init has run and MPI_Finalize has not.
bool mpi_is_up();
[[noreturn]] void mpi_abort_world(int exit_code);
#endif

}  // namespace mhc::dist::detail
