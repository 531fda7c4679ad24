// Catch2 main of the MPI tests (run under mpirun): initialises MPI once through dist::world(); every rank runs every
// test case in the same order, and the job fails on every rank when a test failed on any.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "dist/communicator.hpp"

int main(int argc, char** argv) {
  mhc::dist::Communicator& world = mhc::dist::world();
  const int rc = Catch::Session().run(argc, argv);
  double failed = rc != 0 ? 1.0 : 0.0;
  world.allreduce_sum(&failed, 1);
  return failed > 0 ? 1 : 0;
}
