#!/usr/bin/env bash
# One prepared command for a short GPU slot: builds the CUDA backend for sm_90, runs the [cuda] tests and the mHC
# kernel bandwidth benchmark (mhc_cuda_bench) and writes a JSON report. The GPU machine has nvcc, CMake and ninja but none of our Debian packages, so:
#   here (no GPU):      scripts/gpu-check.sh --prepare      copies the header-only test dependencies to .gpu-deps/
#   on the GPU machine: scripts/gpu-check.sh [REPORT_DIR]   (device tool: run with carry [".gpu-deps"])
# BLAS, MPI and the app's libraries are optional for this build (the CPU oracle falls back to reference loops).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
deps=$root/.gpu-deps

if [ "${1:-}" = "--prepare" ]; then
  rm -rf "$deps" && mkdir -p "$deps/include" "$deps/lib/cmake"
  cp -r /usr/include/catch2 "$deps/include/" || { echo "error: Catch2 headers missing (apt-get install catch2)" >&2; exit 1; }
  cp -r /usr/lib/cmake/Catch2 "$deps/lib/cmake/"
  cp /usr/lib/libCatch2WithMain.a "$deps/lib/"  # the exported CMake package references it
  # nlohmann_json (header-only; the dist library's traces need it): its package finds the headers three levels up.
  cp -r /usr/include/nlohmann "$deps/include/" || { echo "error: nlohmann headers missing (apt-get install nlohmann-json3-dev)" >&2; exit 1; }
  mkdir -p "$deps/share/cmake" && cp -r /usr/share/cmake/nlohmann_json "$deps/share/cmake/"
  echo "prepared $deps ($(du -sh "$deps" | cut -f1)); carry it: run(carry=[\".gpu-deps\"], command=\"scripts/gpu-check.sh \$OUT\")"
  exit 0
fi

report_dir=${1:-$root/runs/gpu-check}
mkdir -p "$report_dir"
build=$root/build-gpu
log=$report_dir/gpu-check.log
export PATH="/usr/local/cuda/bin:$PATH"
start=$(date +%s)

{
  echo "== nvidia-smi"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  echo "== configure"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMHC_CUDA=ON -DMHC_BUILD_APP=OFF \
    -DCMAKE_PREFIX_PATH="$deps" -DCMAKE_CUDA_ARCHITECTURES="90-real;90-virtual"
  echo "== build"
  cmake --build "$build" -j16 --target mhc_cuda_tests mhc_cuda_bench
} >"$log" 2>&1
build_rc=$?

test_rc=-1
if [ $build_rc -eq 0 ]; then
  echo "== [cuda] tests" >>"$log"
  "$build/tests/cuda/mhc_cuda_tests" -r compact >"$report_dir/cuda-tests.txt" 2>&1
  test_rc=$?
  cat "$report_dir/cuda-tests.txt" >>"$log"
fi

bench_rc=-1
if [ $build_rc -eq 0 ]; then
  echo "== mhc_cuda_bench" >>"$log"
  timeout 180 "$build/tests/cuda/mhc_cuda_bench" "$report_dir/bench.json" >"$report_dir/bench.txt" 2>&1
  bench_rc=$?
  cat "$report_dir/bench.txt" >>"$log"
fi

gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
summary=$(grep -E "^(Passed|Failed)|test cases" "$report_dir/cuda-tests.txt" 2>/dev/null | tail -1)
python3 - "$report_dir/report.json" "$gpu" "$build_rc" "$test_rc" "$summary" "$(( $(date +%s) - start ))" \
  "$bench_rc" "$report_dir/bench.json" <<'PY'
import json, os, sys
path, gpu, build_rc, test_rc, summary, secs, bench_rc, bench_json = sys.argv[1:]
report = {"gpu": gpu, "build_rc": int(build_rc), "cuda_tests_rc": int(test_rc),
          "cuda_tests_summary": summary, "bench_rc": int(bench_rc), "seconds": int(secs)}
if os.path.exists(bench_json):
    try:
        report["bench"] = json.load(open(bench_json))
    except ValueError as e:
        report["bench"] = "unreadable: %s" % e
json.dump(report, open(path, "w"), indent=2)
PY
grep -v '"bench"' "$report_dir/report.json" | head -8
tail -45 "$log"
[ $build_rc -eq 0 ] && [ $test_rc -eq 0 ] && [ $bench_rc -eq 0 ]
