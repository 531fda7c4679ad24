// Threads per rank, the OMP_WAIT_POLICY re-exec and job-wide failure for mhc-train.
#include "process_setup.hpp"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include "dist/communicator.hpp"

// Resolved when libgomp / OpenBLAS are linked in; null otherwise.
extern "C" void omp_set_num_threads(int) __attribute__((weak));
extern "C" void openblas_set_num_threads(int) __attribute__((weak));

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

void prepare_process(char** argv) {
  if (const int threads = threads_per_local_rank(); threads > 0) {
    const std::string n = std::to_string(threads);
    setenv("OMP_NUM_THREADS", n.c_str(), 1);
    if (omp_set_num_threads != nullptr) omp_set_num_threads(threads);
    if (std::getenv("OPENBLAS_NUM_THREADS") == nullptr) {
      setenv("OPENBLAS_NUM_THREADS", n.c_str(), 1);
      if (openblas_set_num_threads != nullptr) openblas_set_num_threads(threads);
    }
  }
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv);
  }
}

int report_failure(const std::string& message, int exit_code) {
  if (dist::world_is_mpi() && dist::launched_world_size() > 1) dist::abort_job(message, exit_code);
  std::cerr << "error: " << message << "\n";
  return exit_code;
}

}  // namespace mhc::app
