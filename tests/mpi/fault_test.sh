#!/usr/bin/env bash
# A failure on one rank ends the whole MPI job quickly with that rank's message; the threads per local rank (OpenMP
# and the GEMM library alike) work under the launcher. Usage: fault_test.sh PROBE MPIEXEC NUMPROC_FLAG [LAUNCHER FLAGS...]
# (PROBE is the fault_probe binary; NUMPROC_FLAG e.g. -n; LAUNCHER FLAGS e.g. --oversubscribe.)
set -u
probe=$1
np=$3
launcher=("$2" "${@:4}")
unset OMP_NUM_THREADS
failed=0
fail() {
  failed=1
  echo "FAIL: $1"
  [ -n "${2:-}" ] && echo "$2" | head -40 | sed 's/^/    /'
}

# Single process: mhc-train's usual "error: ..." and exit code 1.
out=$(timeout 30 "$probe" fault 2>&1)
rc=$?
[ "$rc" -eq 1 ] && grep -q "^error: rank 0 failed on purpose" <<<"$out" ||
  fail "single process: wanted exit 1 and 'error: rank 0 failed on purpose', got exit $rc" "$out"

# Two ranks: rank 1 throws while rank 0 waits for it; the job must end within 10 s, non-zero, with rank 1's message.
start=$(date +%s%N)
out=$(timeout 30 "${launcher[@]}" "$np" 2 "$probe" fault 2>&1)
rc=$?
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "2 ranks: wanted a non-zero exit before the timeout, got $rc" "$out"
grep -q "error (rank 1 of 2): rank 1 failed on purpose" <<<"$out" || fail "2 ranks: rank 1's message missing" "$out"
[ "$elapsed_ms" -lt 10000 ] || fail "2 ranks: the job took ${elapsed_ms} ms to end" "$out"
echo "fault on rank 1 of 2: exit $rc after ${elapsed_ms} ms"

# Threads under the launcher: every rank runs max(1, min(affinity, hardware threads / local ranks)) OpenMP threads,
# and its GEMM library as many (one pool); MPI works.
out=$(timeout 30 "${launcher[@]}" "$np" 2 "$probe" env 2>&1)
rc=$?
[ "$rc" -eq 0 ] || fail "env: exit $rc" "$out"
lines=$(grep -c "^rank [01] of 2: " <<<"$out")
[ "$lines" -eq 2 ] || fail "env: wanted two ranks reporting" "$out"
while read -r line; do
  threads=$(sed -E 's/.*omp_threads=([0-9-]+).*/\1/' <<<"$line")
  hw=$(sed -E 's/.* hw=([0-9]+).*/\1/' <<<"$line")
  affinity=$(sed -E 's/.*affinity=([0-9]+).*/\1/' <<<"$line")
  local_ranks=$(sed -E 's/.*local_ranks=([0-9]+).*/\1/' <<<"$line")
  want=$((hw / local_ranks))
  [ "$affinity" -lt "$want" ] && want=$affinity
  [ "$want" -lt 1 ] && want=1
  [ "$threads" -eq "$want" ] || fail "env: wanted $want OpenMP threads: $line"
  gemm_threads=$(sed -E 's/.*gemm_threads=([0-9-]+).*/\1/' <<<"$line")
  [ "$gemm_threads" -eq "$want" ] || fail "env: wanted $want GEMM threads: $line"
done < <(grep "^rank [01] of 2:" <<<"$out")
echo "$out" | grep "^rank"

[ "$failed" -eq 0 ] && echo "fault_test: all passed"
exit "$failed"
