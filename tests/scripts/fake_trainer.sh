#!/usr/bin/env bash
# A stand-in for `mhc-train train` used by test_sweep.py: records its arguments and writes a tiny run directory.
#   types                                              the connection types, as `mhc-train types` prints them
#   train --config CFG --set KEY=VALUE ... --out DIR   a new run (train.steps, default 5)
#   train --resume DIR                                 continues DIR to the train.steps of its config.resolved.json
# Environment:
#   FAKE_TYPES  more lines for `types` ("NAME N"), as a trainer with more connection types would print
#   FAKE_CALLS  file that gets one line per call: the run name, plus " --resume" for a resume
#   FAKE_FAIL   run name that fails with exit 3 (a resume of it too, before it removes stopped.json)
#   FAKE_SHORT  run name that exits 0 but stops its metrics one step early
#   FAKE_STOP   run name that stops as on a signal: metrics up to half its steps, stopped.json, exit 0
#   FAKE_WAIT   space-separated run names that write 2 steps, then DIR/fake.pid (their pid: the sign that they
#               are running) and wait, at most 60 s, for SIGTERM, SIGINT or SIGUSR1: the first one is appended to
#               DIR/signals and, 0.3 s later (the rest of the step), one more step and stopped.json are written
#               and the fake exits 0; a second signal ends it at once by that signal, like mhc-train.
#   FAKE_NOTRAP space-separated names of FAKE_WAIT that install no trap: a signal ends them at once (as one
#               that reaches mhc-train before it installed its handler)
set -euo pipefail
if [ "${1:-}" = types ]; then  # like `mhc-train types`: name and default residual.n_streams
  printf 'residual 1\nhc 4\nmhc 4\n'
  [ -z "${FAKE_TYPES:-}" ] || printf '%s\n' "$FAKE_TYPES"
  exit 0
fi
[ "${1:-}" = train ] || { echo "fake: expected 'train' or 'types', got '${1:-}'" >&2; exit 2; }
shift
out="" resume="" steps=5 type="" streams="" seed=""
sets=()
while [ $# -gt 0 ]; do
  case $1 in
    --config) shift 2 ;;
    --out) out=$2; shift 2 ;;
    --resume) resume=$2; shift 2 ;;
    --set) sets+=("$2"); shift 2 ;;
    *) echo "fake: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -z "$resume" ] || [ -z "$out" ] || { echo "fake: --resume with --out" >&2; exit 2; }
[ -n "$resume" ] && out=$resume
name=$(basename "$out")
if [ -n "$resume" ]; then
  [ -n "${FAKE_CALLS:-}" ] && echo "$name --resume" >>"$FAKE_CALLS"
  [ -f "$out/config.resolved.json" ] || { echo "fake: --resume $out: no config.resolved.json" >&2; exit 2; }
  if [ "$name" = "${FAKE_FAIL:-}" ]; then  # fails before it removes stopped.json (a bad checkpoint, say)
    echo "fake: cannot read the checkpoint" >&2
    exit 3
  fi
  steps=$(sed 's/.*"steps": \([0-9]*\).*/\1/' "$out/config.resolved.json")
  first=$(($(wc -l <"$out/metrics.jsonl") + 1))
  rm -f "$out/stopped.json"  # like mhc-train: a run that resumes removes the marker
  echo "resuming $name at step $((first - 1))"
else
  for kv in ${sets[@]+"${sets[@]}"}; do
    case ${kv%%=*} in
      train.steps) steps=${kv#*=} ;;
      residual.type) type=${kv#*=} ;;
      residual.n_streams) streams=${kv#*=} ;;
      train.seed) seed=${kv#*=} ;;
    esac
  done
  [ -n "${FAKE_CALLS:-}" ] && echo "$name" >>"$FAKE_CALLS"
  mkdir -p "$out"
  printf '%s\n' ${sets[@]+"${sets[@]}"} >"$out/sets.txt"
  echo "training $name"
  if [ "$name" = "${FAKE_FAIL:-}" ]; then
    echo "fake: non-finite loss at step 2" >&2
    exit 3
  fi
  printf '{"train": {"steps": %s, "seed": %s}, "residual": {"type": "%s", "n_streams": %s}}\n' \
    "$steps" "$seed" "$type" "$streams" >"$out/config.resolved.json"
  : >"$out/metrics.jsonl"
  first=1
fi

metric() {  # metric STEP
  echo "{\"step\": $1, \"tokens\": $(($1 * 1024)), \"loss\": 1.0, \"lr\": 0.001, \"grad_norm\": 1.0, \"step_ms\": 10, \"tok_s\": 1000}" >>"$out/metrics.jsonl"
}
stopped() {  # stopped STEP
  printf '{"step": %s, "checkpoint": "%s/checkpoints/step_%08d", "steps": %s}\n' "$1" "$out" "$1" "$steps" \
    >"$out/stopped.json.tmp"
  mv "$out/stopped.json.tmp" "$out/stopped.json"
}

if [[ " ${FAKE_WAIT:-} " == *" $name "* ]]; then
  step=$((first + 1))
  for ((i = first; i <= step; i++)); do metric "$i"; done
  signals=0
  # shellcheck disable=SC2317  # run by the traps below
  on_signal() {
    signals=$((signals + 1))
    echo "$1" >>"$out/signals"
    if [ "$signals" -gt 1 ]; then
      echo "fake: second signal: exiting now" >&2
      trap - "$1"
      kill -s "$1" $$
    fi
    echo "fake: SIG$1: stopping after the current step" >&2
    sleep 0.3
    step=$((step + 1))
    metric "$step"
    stopped "$step"
    exit 0
  }
  if [[ " ${FAKE_NOTRAP:-} " != *" $name "* ]]; then
    trap 'on_signal TERM' TERM
    trap 'on_signal INT' INT
    trap 'on_signal USR1' USR1
  fi
  echo $$ >"$out/fake.pid.tmp"
  mv "$out/fake.pid.tmp" "$out/fake.pid"
  for ((i = 0; i < 600; i++)); do sleep 0.1; done
  echo "fake: no signal came in 60 s" >&2
  exit 1
fi

last=$steps
[ "$name" = "${FAKE_SHORT:-}" ] && last=$((steps - 1))
if [ -z "$resume" ] && [ "$name" = "${FAKE_STOP:-}" ]; then
  last=$(((steps + 1) / 2))
  [ "$last" -lt "$steps" ] || { echo "fake: FAKE_STOP needs train.steps >= 2" >&2; exit 2; }
fi
for ((i = first; i <= last; i++)); do metric "$i"; done
if [ "$last" -lt "$steps" ] && [ "$name" = "${FAKE_STOP:-}" ]; then
  echo "fake: stopped by signal after step $last"
  stopped "$last"
fi
exit 0
