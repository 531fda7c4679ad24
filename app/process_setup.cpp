// Threads per rank and job-wide failure for mhc-train.
#include "process_setup.hpp"

#include <omp.h>
#include <pthread.h>
#include <sched.h>

#include <csignal>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include "dist/communicator.hpp"

namespace mhc::app {

namespace {

int local_ranks() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"}) {
    if (const char* v = std::getenv(name); v != nullptr && *v != '\0') return std::max(1, std::atoi(v));
  }
  return 1;
}

int cpus_allowed() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
  return CPU_COUNT(&set);
}

}  // namespace

int threads_per_local_rank() {
  const int ranks = local_ranks();
  if (ranks <= 1 || std::getenv("OMP_NUM_THREADS") != nullptr) return 0;
  int threads = static_cast<int>(std::thread::hardware_concurrency()) / ranks;
  if (const int allowed = cpus_allowed(); allowed > 0) threads = std::min(threads, allowed);
  return std::max(1, threads);
}

void prepare_process() {
  if (const int threads = threads_per_local_rank(); threads > 0) {
    setenv("OMP_NUM_THREADS", std::to_string(threads).c_str(), 1);  // for child processes
    omp_set_num_threads(threads);  // the GEMM library runs on the same OpenMP threads (ops/cpu/blas/)
  }
  // The OpenMP pool is created with SIGINT, SIGTERM and SIGUSR1 blocked, so its threads (which the GEMM library
  // shares) inherit the mask and those signals reach the main thread only. Taken by a pool thread during the first
  // training step, a stop signal corrupted the heap (glibc aborted in a free inside oneDNN's sgemm) in 1 of 3 tries;
  // with the pool masked, in none of 32.
  sigset_t stop_signals, old;
  sigemptyset(&stop_signals);
  for (const int sig : {SIGINT, SIGTERM, SIGUSR1}) sigaddset(&stop_signals, sig);
  pthread_sigmask(SIG_BLOCK, &stop_signals, &old);
#pragma omp parallel
  { (void)omp_get_thread_num(); }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

int report_failure(const std::string& message, int exit_code) {
  if (dist::world_is_mpi() && dist::launched_world_size() > 1) dist::abort_job(message, exit_code);
  std::cerr << "error: " << message << "\n";
  return exit_code;
}

}  // namespace mhc::app
