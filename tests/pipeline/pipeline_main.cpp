// Main of the pipeline tests run under mpirun: MPI comes up (dist::world) before Catch runs; every rank runs
// every test case, and a failure on any rank fails the job.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "dist/communicator.hpp"

int main(int argc, char** argv) {
  mhc::dist::Communicator& world = mhc::dist::world();
  Catch::Session session;
  if (const int rc = session.applyCommandLine(argc, argv); rc != 0) return rc;
  double failed = session.run();
  world.allreduce_sum(&failed, 1);
  return failed > 0 ? 1 : 0;
}
