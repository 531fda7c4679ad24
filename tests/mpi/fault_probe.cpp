// A tiny program using mhc-train's process set-up (app/process_setup.cpp), for tests/mpi/fault_test.sh:
//   fault_probe fault  the last rank throws while every other rank blocks in a receive from it; the failure must
//                      end the whole job (single process: "error: ..." and exit code 1, as mhc-train).
//   fault_probe env    prints per rank the OpenMP thread count and what it derives from, and the GEMM library's
//                      thread count (the same pool), then checks that MPI works (a sum over the ranks).
#include <sched.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

#include <omp.h>

#include "dist/communicator.hpp"
#include "ops/cpu/blas/blas.hpp"
#include "process_setup.hpp"

namespace {

int run(const std::string& mode) {
  mhc::dist::Communicator& world = mhc::dist::world();
  const int last = world.size() - 1;
  if (mode == "fault") {
    if (world.rank() == last) throw std::runtime_error("rank " + std::to_string(last) + " failed on purpose");
    int never = 0;
    mhc::dist::Request r = world.irecv(&never, sizeof never, last, 0);
    world.wait(r);
    return 0;
  }
  if (mode == "env") {
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    double ranks = 1;
    world.allreduce_sum(&ranks, 1);
    std::printf("rank %d of %d: omp_threads=%d gemm_threads=%d hw=%u affinity=%d local_ranks=%s sum=%g\n",
                world.rank(), world.size(), omp_get_max_threads(), mhc::ops::cpu::blas::info().threads,
                std::thread::hardware_concurrency(), CPU_COUNT(&set), local ? local : "1", ranks);
    return ranks == world.size() ? 0 : 1;
  }
  throw std::invalid_argument("usage: fault_probe fault|env");
}

}  // namespace

int main(int argc, char** argv) {
  mhc::app::prepare_process();
  try {
    return run(argc > 1 ? argv[1] : "");
  } catch (const std::exception& e) {
    return mhc::app::report_failure(e.what(), 1);
  }
}
