#!/usr/bin/env bash
# Runs a grid of residual types x seeds into one directory, one mhc-train run per cell; resumable.
# Options, defaults and an example: scripts/sweep.sh --help (the usage() text below).
#
# Every cell runs
#   BIN train --config CFG --set residual.type=T --set residual.n_streams=N --set train.seed=S [--set ...] --out DIR/T-sS
# with N = 1 for a single-stream type ("residual": `BIN types` lists each type and its default n_streams),
# otherwise the config's residual.n_streams when it is > 1, else 4.
# Only train.seed (the parameter initialisation) varies with the seed; data.seed stays as the config sets it, so
# every arm and seed sees the same data in the same order and the arms differ only in the residual connection.
# A user --set residual.n_streams=K applies to the n-stream arms only; residual.type and train.seed belong to the
# sweep and cannot be set. Paths in the config (data.path) are relative to the current directory: run sweeps
# from the repository root.
#
# Rerun: a run whose metrics.jsonl already reaches train.steps of its config.resolved.json, and which was started
# with the same arguments (DIR/<run>/sweep.args), is skipped; a run that stopped cleanly on a signal (it holds the
# trainer's stopped.json) and has the same arguments is continued with `BIN train --resume DIR/<run>` (bitwise; its
# output is appended to train.log); any other incomplete run directory is removed and the run starts again from
# scratch. A run that finished or stopped with different arguments is reported as a failure (remove it or use
# another --out). A failing run is reported with its log, DIR/<run>/train.log; the sweep runs the other cells and
# exits 1 at the end.
#
# Signals: the trainers run in their own process groups (so a Ctrl-C in the terminal reaches sweep.sh only). A
# first SIGINT, SIGTERM or SIGUSR1 (or SIGHUP, forwarded as SIGTERM) to sweep.sh is forwarded once to every running
# trainer, which finishes its current step, writes a checkpoint and stopped.json and exits 0; sweep.sh waits for them,
# starts no further cells and exits 3 ("stopped: rerun the same command to resume"). Further signals to sweep.sh
# are not forwarded (signal a trainer directly to end it at once, without a new checkpoint). A trainer that stops
# on a signal sent to it directly (its stopped.json, no signal through sweep.sh) also makes the sweep start no
# further cells and exit 3; the other running trainers go on to their end. A run that failed takes precedence:
# exit 1. Usage errors exit 2. Needs bash >= 4.3 and a Python 3 (MHC_PYTHON, default python3).
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
synopsis="Usage: scripts/sweep.sh --out DIR --config CFG [--types LIST] [--seeds LIST] [--set KEY=VALUE ...]
                        [--bin PATH] [--jobs N]"
usage() {
  cat <<EOF
$synopsis

Trains every residual type x seed of one config, one mhc-train run per cell in DIR/TYPE-sSEED, one at a time
or N in parallel; a rerun skips the runs that are complete, resumes the runs that stopped on a signal
(stopped.json) and restarts the others.

Options:
  --out DIR        directory of the sweep (required); compare it with scripts/compare.py DIR
  --config CFG     the mhc-train config every run starts from (required)
  --types LIST     comma-separated residual types, those "BIN types" lists (default: residual,hc,mhc)
  --seeds LIST     comma-separated train.seed values, one run per type and seed (default: 1,2,3)
  --set KEY=VALUE  config override for every run, e.g. train.steps=600 (repeatable); residual.type and
                   train.seed are the sweep's; residual.n_streams=K applies to the n-stream arms only
  --bin PATH       the trainer (default: build/app/mhc-train of this checkout); a wrapper script should exec it,
                   since the sweep forwards signals to this process only
  --jobs N         runs at a time (default: 1)
  -h, --help       print this help and exit

The n-stream arms (hc, mhc, ...) use the config's residual.n_streams when it is > 1, else 4; single-stream arms
(residual: "BIN types" gives it 1 stream) use 1.
Signals: a first SIGINT/SIGTERM/SIGUSR1 (Ctrl-C) is forwarded once to the running trainers; each finishes its step,
writes a checkpoint and stopped.json; no further runs start. Rerun the same command to resume them.
Exit status: 0 every run complete, 1 some run failed (its log: DIR/TYPE-sSEED/train.log), 2 usage error,
3 stopped by a signal (sent to sweep.sh, or to a trainer directly): rerun the same command to resume.
Environment: MHC_PYTHON, the Python 3 that reads configs and metrics (default: python3).

Example (from the repository root):
  scripts/sweep.sh --out runs/cmp --config configs/tiny-mhc.json --seeds 1,2,3 --set train.steps=300 --jobs 2
EOF
}
die_usage() {
  echo "sweep.sh: $*" >&2
  echo "$synopsis" >&2
  echo "scripts/sweep.sh --help lists every option" >&2
  exit 2
}

out=""
config=""
types_csv="residual,hc,mhc"
seeds_csv="1,2,3"
bin="$script_dir/../build/app/mhc-train"
jobs=1
user_sets=()
python=${MHC_PYTHON:-python3}  # any Python 3 (standard library only)

need_value() { if [ $# -lt 2 ] || [ -z "$2" ]; then die_usage "$1 needs a value"; fi; }
while [ $# -gt 0 ]; do
  case $1 in
    --out) need_value "$@"; out=$2; shift 2 ;;
    --config) need_value "$@"; config=$2; shift 2 ;;
    --types) need_value "$@"; types_csv=$2; shift 2 ;;
    --seeds) need_value "$@"; seeds_csv=$2; shift 2 ;;
    --set) need_value "$@"; user_sets+=("$2"); shift 2 ;;
    --bin) need_value "$@"; bin=$2; shift 2 ;;
    --jobs) need_value "$@"; jobs=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) die_usage "unknown argument '$1'" ;;
  esac
done

[ -n "$out" ] || die_usage "--out DIR is required"
[ -n "$config" ] || die_usage "--config CFG is required"
[ -f "$config" ] || die_usage "config file '$config' not found"
[ -x "$bin" ] || die_usage "trainer '$bin' is not an executable file (build it, or pass --bin PATH)"
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die_usage "--jobs must be a positive integer, got '$jobs'"

IFS=, read -r -a types <<<"$types_csv"
IFS=, read -r -a seeds <<<"$seeds_csv"
[ ${#types[@]} -gt 0 ] || die_usage "--types is empty"
[ ${#seeds[@]} -gt 0 ] || die_usage "--seeds is empty"
# The trainer's connection types and their default residual.n_streams (`BIN types`: "NAME N" per line); a type whose
# default is 1 is single-stream (the residual arm).
declare -A type_streams=()
type_list=$("$bin" types) || die_usage "trainer '$bin' cannot list its connection types ('$bin types' failed)"
while read -r name n; do
  [ -n "$name" ] && type_streams[$name]=$n
done <<<"$type_list"
known_types=$(printf '%s\n' "$type_list" | cut -d' ' -f1 | paste -sd, - | sed 's/,/, /g')
for t in "${types[@]}"; do
  [ -n "$t" ] && [ -n "${type_streams[$t]+set}" ] || die_usage "--types: unknown residual type '$t' ($known_types)"
done
for s in "${seeds[@]}"; do
  [[ $s =~ ^[0-9]+$ ]] || die_usage "--seeds: '$s' is not a non-negative integer"
done
[ "$(printf '%s\n' "${types[@]}" | sort | uniq -d)" = "" ] || die_usage "--types lists a type twice"
[ "$(printf '%s\n' "${seeds[@]}" | sort | uniq -d)" = "" ] || die_usage "--seeds lists a seed twice"

user_streams=""
for kv in ${user_sets[@]+"${user_sets[@]}"}; do
  [[ $kv =~ ^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*= ]] || die_usage "--set '$kv': expected section.key=value"
  case ${kv%%=*} in
    residual.type) die_usage "--set residual.type: the sweep sets it per arm; use --types" ;;
    train.seed) die_usage "--set train.seed: the sweep sets it per run; use --seeds" ;;
    residual.n_streams) user_streams=${kv#*=} ;;
  esac
done

# Streams of the hc/mhc arms: a user override, else the config's n_streams when > 1, else 4. The config may have
# // and /* */ comments (docs/config.md), which Python's json does not accept: strip them outside strings.
if [ -n "$user_streams" ]; then
  multi_streams=$user_streams
else
  multi_streams=$("$python" - "$config" <<'EOF'
import json, re, sys
text = open(sys.argv[1], encoding="utf-8").read()
token = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/', re.S)
text = token.sub(lambda m: m.group(0) if m.group(0).startswith('"') else " ", text)
try:
    n = json.loads(text).get("residual", {}).get("n_streams", 4)
except (ValueError, AttributeError) as e:
    sys.exit(f"sweep.sh: cannot read {sys.argv[1]} as JSON: {e}")
print(n if isinstance(n, int) and n > 1 else 4)
EOF
  )
fi

# run_state RUN_DIR: prints "LAST_STEP STEPS STOP_STEP" (STOP_STEP: the step of stopped.json, "-" without one);
# exit 0 when metrics.jsonl reaches train.steps of the run's config.resolved.json, 10 when it does not (or the
# files are unreadable), anything else when the check itself failed (e.g. Python killed by a Ctrl-C).
run_state() {
  "$python" - "$1" <<'PYEOF'
import json, os, sys
d = sys.argv[1]
stop = "-"
try:
    with open(os.path.join(d, "stopped.json"), encoding="utf-8") as f:
        stop = str(int(json.load(f)["step"]))
except (OSError, ValueError, KeyError, TypeError):
    pass
try:
    with open(os.path.join(d, "config.resolved.json"), encoding="utf-8") as f:
        steps = int(json.load(f)["train"]["steps"])
    last = 0
    with open(os.path.join(d, "metrics.jsonl"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                try:
                    last = max(last, int(json.loads(line)["step"]))
                except (ValueError, KeyError, TypeError):
                    pass  # a torn last line of an interrupted run
except (OSError, ValueError, KeyError, TypeError):
    print("0 ?", stop)
    sys.exit(10)
print(last, steps, stop)
sys.exit(0 if last >= steps else 10)
PYEOF
}

mkdir -p "$out"

# The running trainers, by pid: their run name, directory, start time, stopped.json before the launch (a resume
# starts with the old one; a new one differs in its step) and the signal forwarded to them (empty: none yet).
declare -A job_name=() job_dir=() job_start=() job_marker=() job_from=() job_fwd=()
fail_names=()     # runs that failed
stop_names=()     # runs that stopped on a signal (a rerun resumes those with stopped.json)
not_started=0     # cells not started because the sweep is stopping
stopping=0        # 1: start no further cells
stop_sig=""       # the signal sweep.sh received (INT, TERM, USR1, HUP), empty while none

# on_signal SIG: the first one is forwarded once to every running trainer (SIGHUP as SIGTERM); later ones are not.
on_signal() {
  local sig=$1 fwd=$1 pid names=""
  [ "$sig" = HUP ] && fwd=TERM
  if [ -n "$stop_sig" ]; then
    echo "sweep: SIG$sig again: still waiting for the running trainers to write their checkpoints" \
      "(not forwarded; signal a trainer directly to end it at once)" >&2
    return 0
  fi
  stop_sig=$sig
  stopping=1
  if [ "${#job_name[@]}" -gt 0 ]; then
    for pid in "${!job_name[@]}"; do
      kill -s "$fwd" "$pid" 2>/dev/null || true
      job_fwd[$pid]=$fwd
      names+="${names:+ }${job_name[$pid]}"
    done
  fi
  if [ -n "$names" ]; then
    echo "sweep: SIG$sig: forwarded SIG$fwd to the running trainers ($names); each finishes its step and" \
      "writes a checkpoint and stopped.json; no further runs start" >&2
  else
    echo "sweep: SIG$sig: no further runs start" >&2
  fi
}
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
trap 'on_signal USR1' USR1
trap 'on_signal HUP' HUP

# start_cell TYPE SEED: one cell of the grid: skips it, reports it, or launches its trainer in the background
# (fresh, or --resume of a stopped run). Sets cell_started=0 when the sweep is stopping and the cell did not start.
start_cell() {
  local type=$1 seed=$2
  local name="$type-s$seed"
  local dir="$out/$name"
  local streams=$multi_streams single=0
  [ "${type_streams[$type]}" = 1 ] && single=1 streams=1
  local args=(train --config "$config" --set "residual.type=$type" --set "residual.n_streams=$streams"
    --set "train.seed=$seed")
  local kv
  for kv in ${user_sets[@]+"${user_sets[@]}"}; do
    [ $single = 1 ] && [ "${kv%%=*}" = residual.n_streams ] && continue
    args+=(--set "$kv")
  done
  args+=(--out "$dir")
  local want state="" st=0 same=0 marker="" from=""
  want=$(printf '%s\n' "${args[@]}")
  cell_started=1

  if [ -d "$dir" ]; then
    state=$(run_state "$dir") || st=$?
    [ "$stopping" -eq 0 ] || { cell_started=0; return 0; }  # a signal arrived meanwhile: touch nothing
    if [ "$st" -ne 0 ] && [ "$st" -ne 10 ]; then
      printf 'FAIL  %-14s cannot read its state (%s exited %d); left as it is\n' "$name" "$python" "$st"
      fail_names+=("$name")
      return 0
    fi
    [ -f "$dir/sweep.args" ] && [ "$(cat "$dir/sweep.args")" = "$want" ] && same=1
    local last=${state%% *} rest=${state#* }
    local steps=${rest%% *} stop=${rest#* }
    if [ "$st" -eq 0 ]; then
      if [ "$same" -eq 1 ]; then
        printf 'skip  %-14s complete (step %s)\n' "$name" "$last"
      else
        printf 'FAIL  %-14s finished with other arguments (see %s); remove it or use another --out\n' \
          "$name" "$dir/sweep.args"
        fail_names+=("$name")
      fi
      return 0
    fi
    if [ "$stop" != - ]; then
      if [ "$same" -eq 0 ]; then
        printf 'FAIL  %-14s stopped at step %s with other arguments (see %s); remove it or use another --out\n' \
          "$name" "$stop" "$dir/sweep.args"
        fail_names+=("$name")
        return 0
      fi
      marker=$(cat "$dir/stopped.json")
      from=$stop
    else
      rm -rf "$dir"  # incomplete without a clean stop: start again from scratch
    fi
  fi
  local pid
  if [ -n "$from" ]; then
    printf '\n== sweep.sh: resuming at step %s: %s train --resume %s\n' "$from" "$bin" "$dir" >>"$dir/train.log"
    set -m  # its own process group: a Ctrl-C in the terminal reaches sweep.sh only, which forwards it once
    "$bin" train --resume "$dir" </dev/null >>"$dir/train.log" 2>&1 &
    pid=$!
    set +m
  else
    mkdir -p "$dir"
    printf '%s\n' "$want" >"$dir/sweep.args"
    set -m
    "$bin" "${args[@]}" </dev/null >"$dir/train.log" 2>&1 &
    pid=$!
    set +m
  fi
  job_name[$pid]=$name
  job_dir[$pid]=$dir
  job_start[$pid]=$SECONDS
  job_marker[$pid]=$marker
  job_from[$pid]=$from
  if [ -n "$stop_sig" ] && [ -z "${job_fwd[$pid]-}" ]; then  # the signal came between the check and the launch
    job_fwd[$pid]=$stop_sig
    [ "$stop_sig" = HUP ] && job_fwd[$pid]=TERM
    kill -s "${job_fwd[$pid]}" "$pid" 2>/dev/null || true
  fi
}

# finish_cell PID RC: reports the trainer PID that exited with status RC and forgets it.
finish_cell() {
  local pid=$1 rc=$2
  local name=${job_name[$pid]} dir=${job_dir[$pid]} marker=${job_marker[$pid]} from=${job_from[$pid]}
  local fwd=${job_fwd[$pid]-}
  local secs=$((SECONDS - ${job_start[$pid]}))
  unset "job_name[$pid]" "job_dir[$pid]" "job_start[$pid]" "job_marker[$pid]" "job_from[$pid]" "job_fwd[$pid]"
  local state st now=""
  for _ in 1 2 3; do  # again when the check itself was interrupted (a Ctrl-C reaches its Python too)
    st=0
    state=$(run_state "$dir") || st=$?
    if [ "$st" -eq 0 ] || [ "$st" -eq 10 ]; then break; fi
  done
  local last=${state%% *} rest=${state#* }
  local steps=${rest%% *} stop=${rest#* }
  [ -f "$dir/stopped.json" ] && now=$(cat "$dir/stopped.json")
  local resumed=""
  [ -n "$from" ] && resumed=" (resumed at step $from)"
  if [ "$stop" != - ] && [ "$now" != "$marker" ]; then  # a stopped.json of this launch: a clean stop
    local how=""
    [ "$rc" -ne 0 ] && how=", exit $rc"
    printf 'stop  %-14s stopped at step %s of %s after %ds%s%s; a rerun resumes it (log: %s)\n' \
      "$name" "$stop" "$steps" "$secs" "$resumed" "$how" "$dir/train.log"
    stop_names+=("$name")
    if [ -z "$fwd" ] && [ -z "$stop_sig" ]; then
      stopping=1
      echo "sweep: $name stopped on a signal sent to it directly; no further runs start" \
        "(${#job_name[@]} running ones go on to their end)" >&2
    fi
  elif [ "$rc" -ne 0 ] && [ -n "$fwd" ] && [ "$rc" -eq $((128 + $(kill -l "$fwd"))) ]; then
    printf 'stop  %-14s ended by the forwarded SIG%s before it could write a checkpoint; a rerun starts it again\n' \
      "$name" "$fwd"
    stop_names+=("$name")
  elif [ "$rc" -ne 0 ]; then
    printf 'FAIL  %-14s exit %d after %ds%s; log: %s\n' "$name" "$rc" "$secs" "$resumed" "$dir/train.log"
    tail -n 10 "$dir/train.log" | sed 's/^/      | /'
    [ "$stop" != - ] && echo "      ($dir/stopped.json remains: a rerun tries to resume it again; remove $dir to start over)"
    fail_names+=("$name")
  elif [ "$st" -ne 0 ]; then
    printf 'FAIL  %-14s exit 0 but metrics.jsonl stops at step %s of %s; log: %s\n' \
      "$name" "$last" "$steps" "$dir/train.log"
    fail_names+=("$name")
  else
    printf 'ok    %-14s %s steps in %ds%s\n' "$name" "$steps" "$secs" "$resumed"
  fi
}

# reap_one: waits until one running trainer has exited and reports it. `wait -n` returns early when a trapped
# signal arrives (after its trap ran); the loop goes on until a trainer really exited.
reap_one() {
  local pid rc w
  while :; do
    for pid in "${!job_name[@]}"; do
      if ! kill -0 "$pid" 2>/dev/null; then
        rc=0
        wait "$pid" || rc=$?
        finish_cell "$pid" "$rc"
        return 0
      fi
    done
    w=0
    wait -n || w=$?
    if [ "$w" -eq 127 ]; then  # no child left to wait for (a pid reused since): collect any one of them
      for pid in "${!job_name[@]}"; do
        rc=0
        wait "$pid" || rc=$?
        finish_cell "$pid" "$rc"
        return 0
      done
    fi
  done
}

total=$((${#types[@]} * ${#seeds[@]}))
echo "sweep: $total runs (types $types_csv x seeds $seeds_csv) into $out, $jobs at a time"
for type in "${types[@]}"; do
  for seed in "${seeds[@]}"; do
    while [ "$stopping" -eq 0 ] && [ "${#job_name[@]}" -ge "$jobs" ]; do reap_one; done
    if [ "$stopping" -ne 0 ]; then
      not_started=$((not_started + 1))
      continue
    fi
    start_cell "$type" "$seed"
    [ "$cell_started" -eq 1 ] || not_started=$((not_started + 1))
  done
done
while [ "${#job_name[@]}" -gt 0 ]; do reap_one; done

if [ "${#fail_names[@]}" -gt 0 ]; then
  echo "sweep: ${#fail_names[@]} of $total runs failed: $(printf '%s\n' "${fail_names[@]}" | sort | paste -sd ' ' -)" >&2
  if [ "${#stop_names[@]}" -gt 0 ] || [ "$not_started" -gt 0 ]; then
    what="$not_started not started"
    [ "${#stop_names[@]}" -eq 0 ] || what="${#stop_names[@]} runs stopped (${stop_names[*]}), $what"
    echo "sweep: also stopped by a signal: $what; a rerun resumes them" >&2
  fi
  exit 1
fi
if [ "${#stop_names[@]}" -gt 0 ] || [ "$not_started" -gt 0 ]; then
  why="a trainer was signalled directly"
  [ -n "$stop_sig" ] && why="SIG$stop_sig"
  what="$not_started not started"
  [ "${#stop_names[@]}" -eq 0 ] || what="${#stop_names[@]} runs stopped (${stop_names[*]}), $what"
  echo "sweep: stopped ($why): $what; rerun the same command to resume" >&2
  exit 3
fi
[ -z "$stop_sig" ] || echo "sweep: SIG$stop_sig arrived after the last run had finished" >&2
echo "sweep: all $total runs complete in $out"
