# Shared set-up for scripts/test.sh and scripts/demo.sh (sourced, not run): installs the missing Debian packages
# when run as root, otherwise names them and stops; then configures and builds (all targets or the named ones) with
# -j2. Idempotent.

MHC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MHC_BUILD=${MHC_BUILD:-$MHC_ROOT/build}

# Debian packages the project builds and runs with (python3-* are for scripts/compare.py and benchmarks only).
MHC_PACKAGES=(cmake ninja-build g++ pkg-config libcli11-dev nlohmann-json3-dev libspdlog-dev catch2
              libopenmpi-dev openmpi-bin libdnnl-dev python3 python3-numpy python3-matplotlib python3-scipy)

mhc_install_packages() {
  local missing=() p
  for p in "${MHC_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: missing Debian packages: ${missing[*]}" >&2
    echo "       install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "== installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# mhc_configure_and_build [--target NAME]... [CMAKE_OPTION]...: builds the named targets, or all without --target.
mhc_configure_and_build() {
  local targets=()
  while [ $# -ge 2 ] && [ "$1" = --target ]; do
    targets+=("$2")
    shift 2
  done
  # The CUDA toolkit usually lives outside PATH; let CMake's AUTO detection find nvcc there.
  if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
    export PATH="/usr/local/cuda/bin:$PATH"
  fi
  local generator=()
  command -v ninja >/dev/null 2>&1 && [ ! -f "$MHC_BUILD/Makefile" ] && generator=(-G Ninja)
  cmake -S "$MHC_ROOT" -B "$MHC_BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
  cmake --build "$MHC_BUILD" -j2 ${targets[@]+--target "${targets[@]}"}
}
