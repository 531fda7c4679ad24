#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the CPU unit tests, CLI, MPI and script tests (the [cuda]
# tests are skipped without a GPU), then the CUDA simulator build (docs/cuda-simulator.md), which runs every [cuda]
# kernel test and the whole-step tests on the CPU under ASan + UBSan (MHC_SKIP_SIM=1 skips it).
# Usage: scripts/test.sh [extra cmake -D options for the main build]
set -euo pipefail
source "$(dirname "$0")/lib/setup.sh"
mhc_install_packages
mhc_configure_and_build "$@"
# Open MPI refuses to run as root unless told; CI runs as root (used by the mpirun tests).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --test-dir "$MHC_BUILD" --output-on-failure -j1
if [ "${MHC_SKIP_SIM:-0}" != 1 ]; then
  sim=${MHC_SIM_BUILD:-$MHC_ROOT/build-sim}
  cmake -S "$MHC_ROOT" -B "$sim" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMHC_CUDA=SIM -DMHC_SANITIZE=ON
  cmake --build "$sim" -j2 --target mhc_cuda_tests mhc_cuda_sim_tests mhc_cuda_sim_oob
  # Two at a time: the simulator runs a kernel on one thread (the CPU ctest above stays -j1 for its MPI and signal
  # tests).
  ctest --test-dir "$sim" -L cuda_sim --output-on-failure -j2
fi
