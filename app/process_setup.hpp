// Process set-up of mhc-train before any work (threads per rank) and how a failure ends the job.
#pragma once

#include <string>

namespace mhc::app {

// OpenMP threads for this process when it shares the machine with other ranks of an MPI job
// (OMPI_COMM_WORLD_LOCAL_SIZE or MPI_LOCALNRANKS > 1): max(1, min(CPUs this process may run on,
// hardware_concurrency / local ranks)); 0 when the defaults stand (one local rank, or OMP_NUM_THREADS is set).
int threads_per_local_rank();

// Call first thing in main: applies threads_per_local_rank() to OpenMP, which is also the GEMM library's thread pool
// (one runtime), and to OMP_NUM_THREADS for child processes. libgomp's wait policy stays the user's (it reads
// OMP_WAIT_POLICY / GOMP_SPINCOUNT once, when it loads); docs/performance.md says when to set it.
void prepare_process();

// A command failed with `message`. In a single process (or an MPI job of one rank) writes "error: message" to
// stderr and returns exit_code. In an MPI job of several ranks ends every rank now through dist::abort_job (which
// writes "error (rank R of S): message"), so that no rank waits forever on this one.
int report_failure(const std::string& message, int exit_code);

}  // namespace mhc::app
