#!/usr/bin/env bash
# A stand-in for `mhc-train train` used by test_sweep.py: records its arguments and writes a tiny run directory.
# Environment: FAKE_CALLS (file that gets one line per call), FAKE_FAIL (run name that fails with exit 3),
# FAKE_SHORT (run name that exits 0 but stops its metrics one step early).
set -euo pipefail
[ "${1:-}" = train ] || { echo "fake: expected 'train', got '${1:-}'" >&2; exit 2; }
shift
out="" steps=5 type="" streams="" seed=""
sets=()
while [ $# -gt 0 ]; do
  case $1 in
    --config) shift 2 ;;
    --out) out=$2; shift 2 ;;
    --set) sets+=("$2"); shift 2 ;;
    *) echo "fake: unknown argument $1" >&2; exit 2 ;;
  esac
done
for kv in "${sets[@]}"; do
  case ${kv%%=*} in
    train.steps) steps=${kv#*=} ;;
    residual.type) type=${kv#*=} ;;
    residual.n_streams) streams=${kv#*=} ;;
    train.seed) seed=${kv#*=} ;;
  esac
done
name=$(basename "$out")
[ -n "${FAKE_CALLS:-}" ] && echo "$name" >>"$FAKE_CALLS"
mkdir -p "$out"
printf '%s\n' "${sets[@]}" >"$out/sets.txt"
echo "training $name"
if [ "$name" = "${FAKE_FAIL:-}" ]; then
  echo "fake: non-finite loss at step 2" >&2
  exit 3
fi
last=$steps
[ "$name" = "${FAKE_SHORT:-}" ] && last=$((steps - 1))
printf '{"train": {"steps": %s, "seed": %s}, "residual": {"type": "%s", "n_streams": %s}}\n' \
  "$steps" "$seed" "$type" "$streams" >"$out/config.resolved.json"
: >"$out/metrics.jsonl"
for ((i = 1; i <= last; i++)); do
  echo "{\"step\": $i, \"tokens\": $((i * 1024)), \"loss\": 1.0, \"lr\": 0.001, \"grad_norm\": 1.0, \"step_ms\": 10, \"tok_s\": 1000}" >>"$out/metrics.jsonl"
done
