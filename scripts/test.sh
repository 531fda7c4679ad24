#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (CPU unit tests, CLI tests; [cuda] tests are skipped
# without a GPU). Usage: scripts/test.sh [extra cmake -D options]
set -euo pipefail
source "$(dirname "$0")/lib/setup.sh"
mhc_install_packages
mhc_configure_and_build "$@"
# Open MPI refuses to run as root unless told; CI runs as root (used by the mpirun tests).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --test-dir "$MHC_BUILD" --output-on-failure -j1
