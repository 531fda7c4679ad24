// Process set-up of mhc-train before any work (threads per rank, OpenMP wait policy) and how a failure ends the job.
#pragma once

#include <string>

namespace mhc::app {

// OpenMP/OpenBLAS threads for this process when it shares the machine with other ranks of an MPI job
// (OMPI_COMM_WORLD_LOCAL_SIZE or MPI_LOCALNRANKS > 1): max(1, min(CPUs this process may run on,
// hardware_concurrency / local ranks)); 0 when the defaults stand (one local rank, or OMP_NUM_THREADS is set).
int threads_per_local_rank();

// Call first thing in main. Applies threads_per_local_rank() (OMP_NUM_THREADS and, unless set,
// OPENBLAS_NUM_THREADS, both in the environment and in the loaded runtimes); then, unless OMP_WAIT_POLICY is set,
// re-executes this program with OMP_WAIT_POLICY=passive (libgomp reads it only when it loads: its default spinning
// after each parallel region takes the cores OpenBLAS's threads need; training steps measured 2.3x slower).
// Returns in the re-executed process, or when the re-execution failed (then the default policy stays).
void prepare_process(char** argv);

// A command failed with `message`. In a single process (or an MPI job of one rank) writes "error: message" to
// stderr and returns exit_code. In an MPI job of several ranks ends every rank now through dist::abort_job (which
// writes "error (rank R of S): message"), so that no rank waits forever on this one.
int report_failure(const std::string& message, int exit_code);

}  // namespace mhc::app
