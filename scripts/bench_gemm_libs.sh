#!/usr/bin/env bash
# Chooses the CPU GEMM library by measurement: builds mhc-train once per library (MHC_CPU_BLAS, lib/cpu_blas.cmake)
# and runs `bench ops` (square GEMMs and every GEMM shape of a training step) and `bench step` with each, in
# interleaved rounds, then prints one table (medians over the rounds).
#
# Usage: scripts/bench_gemm_libs.sh [--rounds R] [--libs "onednn openblas-openmp@OPENBLAS_CORETYPE=SkylakeX ..."]
#                                   [--threads T] [--out DIR] [-- BENCH_ARGS...]
#   A library may carry one environment setting after '@' (a kernel the library does not pick by itself here).
#   BENCH_ARGS default: --config configs/shakespeare-char-residual.json --set model.n_blocks=6 --set model.seq_len=256
# Installs the Debian packages of the chosen libraries when run as root, and PyPI's mkl-devel into DIR/mkl-venv for
# mkl (or uses MKL_ROOT). Builds go to DIR/build-<lib> (default DIR: build-blas); results to DIR/results.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=3
libs="onednn openblas-openmp openblas-openmp@OPENBLAS_CORETYPE=SkylakeX openblas-pthread blis-openmp
      blis-openmp@BLIS_ARCH_TYPE=skx mkl"
threads=$(nproc)
out=$root/build-blas
bench_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --libs) libs=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --) shift; bench_args=("$@"); break ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ ${#bench_args[@]} -eq 0 ] && bench_args=(--config "$root/configs/shakespeare-char-residual.json"
                                           --set model.n_blocks=6 --set model.seq_len=256)
mkdir -p "$out/results"

debian_package() {
  case $1 in
    openblas-openmp) echo libopenblas-openmp-dev ;;
    openblas-pthread) echo libopenblas-pthread-dev ;;
    blis-openmp) echo libblis-openmp-dev ;;
    onednn) echo libdnnl-dev ;;
  esac
}

builds=$(for spec in $libs; do echo "${spec%%@*}"; done | sort -u)
for lib in $builds; do
  cmake_args=(-DMHC_CPU_BLAS="$lib" -DMHC_CUDA=OFF -DMHC_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release)
  pkg=$(debian_package "$lib")
  if [ -n "$pkg" ] && ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    [ "$(id -u)" -eq 0 ] || { echo "error: $lib needs the Debian package $pkg (sudo apt-get install -y $pkg)" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg"
  fi
  if [ "$lib" = mkl ]; then
    mkl_root=${MKL_ROOT:-$out/mkl-venv}
    if [ ! -f "$mkl_root/include/mkl.h" ]; then
      python3 -m venv "$mkl_root"
      "$mkl_root/bin/pip" install -q mkl-devel
    fi
    cmake_args+=(-DMKL_ROOT="$mkl_root")
  fi
  echo "== building mhc-train with $lib"
  cmake -S "$root" -B "$out/build-$lib" "${cmake_args[@]}" >"$out/build-$lib.log" 2>&1 ||
    { tail -20 "$out/build-$lib.log"; exit 1; }
  cmake --build "$out/build-$lib" -j2 --target mhc-train >>"$out/build-$lib.log" 2>&1 ||
    { tail -20 "$out/build-$lib.log"; exit 1; }
done

lscpu | grep -E "^Model name" || true
for r in $(seq 1 "$rounds"); do
  for spec in $libs; do
    bin=$out/build-${spec%%@*}/app/mhc-train
    env_set=()
    [[ $spec == *@* ]] && env_set=("${spec#*@}")
    echo "== round $r: $spec"
    env "${env_set[@]}" OMP_NUM_THREADS="$threads" "$bin" bench ops --repeats 5 "${bench_args[@]}" \
      >"$out/results/$spec-$r-ops.json"
    env "${env_set[@]}" OMP_NUM_THREADS="$threads" "$bin" bench step --steps 4 "${bench_args[@]}" \
      >"$out/results/$spec-$r-step.json"
  done
done

python3 - "$out/results" "$rounds" $libs <<'EOF'
import json, statistics, sys
results, rounds, libs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
print("| library (setting) | kernel | threads | 1 thread = N threads | sgemm 1024^3 GFLOP/s "
      "| step GEMMs ms (GFLOP/s) | skinny GEMMs GFLOP/s | train step ms | tok/s |")
print("|---|---|---|---|---|---|---|---|---|")
for lib in libs:
    ops = [json.load(open(f"{results}/{lib}-{r}-ops.json")) for r in range(1, rounds + 1)]
    steps = [json.load(open(f"{results}/{lib}-{r}-step.json")) for r in range(1, rounds + 1)]
    med = lambda xs: statistics.median(xs)
    info = ops[0]["gemm_library"]
    sq = med([next(m["gflops"] for m in o["matmul_f32"] if m["n"] == 1024) for o in ops])
    gemm_ms = med([o["step_gemms_f32"]["step_gemm_ms"] for o in ops])
    gemm_gf = med([o["step_gemms_f32"]["step_gemm_gflops"] for o in ops])
    # the connection products with a short side (n C x K, K <= 24): the tall-skinny cases
    skinny = [s for s in ops[0]["step_gemms_f32"]["shapes"] if min(s["m"], s["n"], s["k"]) <= 32]  # n C x K
    sk = "; ".join(f'{s["use"]} {med([next(x["gflops"] for x in o["step_gemms_f32"]["shapes"] if x["use"] == s["use"]) for o in ops]):.0f}'
                   for s in skinny) or "-"
    step_ms = med([s["step_ms_median"] for s in steps])
    tok = med([s["tok_s"] for s in steps])
    bitwise = all(o["step_gemms_f32"]["bitwise_on_one_thread"] for o in ops)
    print(f'| {lib} | {info["kernel"]} | {info["threads"]} ({info["threading"]}) | {"yes" if bitwise else "no"} '
          f'| {sq:.0f} | {gemm_ms:.1f} ({gemm_gf:.0f}) | {sk} | {step_ms:.1f} | {tok:.0f} |')
print(f"\n{rounds} rounds, libraries interleaved in each; medians. Versions:")
for lib in libs:
    print(f'- {lib}: {json.load(open(f"{results}/{lib}-1-ops.json"))["gemm_library"]["version"]}')
EOF
