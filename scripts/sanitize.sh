#!/usr/bin/env bash
# The CPU tests under AddressSanitizer + UndefinedBehaviorSanitizer (issue 12's sanitizer job; not part of CI, which
# runs the CUDA simulator build under the same sanitizers): installs what is missing, builds build-asan
# (-DMHC_SANITIZE=ON -DMHC_CUDA=OFF, RelWithDebInfo for line numbers) and runs every ctest there. Any UBSan report
# stops the test that hit it (halt_on_error), so a green run is a clean run. Leak checking is on for every test but
# those that run processes under mpirun: Open MPI's own allocations, made by plugins it has unloaded by exit, show up
# there as leaks from "<unknown module>" that no suppression can name.
# Usage: scripts/sanitize.sh [extra cmake -D options]     (MHC_BUILD overrides the build directory)
set -euo pipefail
export MHC_BUILD=${MHC_BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build-asan}
source "$(dirname "$0")/lib/setup.sh"
mhc_install_packages
mhc_configure_and_build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMHC_SANITIZE=ON -DMHC_CUDA=OFF "$@"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
mpi_tests='^(mpi_|pipeline_|scripts_configs$)'
rc=0
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir "$MHC_BUILD" --output-on-failure -j1 -E "$mpi_tests" || rc=1
ASAN_OPTIONS=detect_leaks=0 ctest --test-dir "$MHC_BUILD" --output-on-failure -j1 -R "$mpi_tests" || rc=1
exit $rc
