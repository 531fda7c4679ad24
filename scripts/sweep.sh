#!/usr/bin/env bash
# Runs a grid of residual types x seeds into one directory, one mhc-train run per cell; resumable.
# Options, defaults and an example: scripts/sweep.sh --help (the usage() text below).
#
# Every cell runs
#   BIN train --config CFG --set residual.type=T --set residual.n_streams=N --set train.seed=S [--set ...] --out DIR/T-sS
# with N = 1 for "residual", otherwise the config's residual.n_streams when it is > 1, else 4.
# Only train.seed (the parameter initialisation) varies with the seed; data.seed stays as the config sets it, so
# every arm and seed sees the same data in the same order and the arms differ only in the residual connection.
# A user --set residual.n_streams=K applies to the hc/mhc arms only; residual.type and train.seed belong to the
# sweep and cannot be set. Paths in the config (data.path) are relative to the current directory: run sweeps
# from the repository root.
#
# Resume: a run whose metrics.jsonl already reaches train.steps of its config.resolved.json, and which was started
# with the same arguments (DIR/<run>/sweep.args), is skipped; an incomplete run directory is removed and the run
# starts again from scratch. A run that finished with different arguments is reported as a failure (remove it or
# use another --out). A failing run is reported with its log, DIR/<run>/train.log; the sweep runs the other cells
# and exits 1 at the end. Usage errors exit 2. Needs bash >= 4.3 and a Python 3 (MHC_PYTHON, default python3).
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
synopsis="Usage: scripts/sweep.sh --out DIR --config CFG [--types LIST] [--seeds LIST] [--set KEY=VALUE ...]
                        [--bin PATH] [--jobs N]"
usage() {
  cat <<EOF
$synopsis

Trains every residual type x seed of one config, one mhc-train run per cell in DIR/TYPE-sSEED, one at a time
or N in parallel; a rerun skips the runs that are complete and restarts the others.

Options:
  --out DIR        directory of the sweep (required); compare it with scripts/compare.py DIR
  --config CFG     the mhc-train config every run starts from (required)
  --types LIST     comma-separated residual types: residual, hc, mhc (default: residual,hc,mhc)
  --seeds LIST     comma-separated train.seed values, one run per type and seed (default: 1,2,3)
  --set KEY=VALUE  config override for every run, e.g. train.steps=600 (repeatable); residual.type and
                   train.seed are the sweep's; residual.n_streams=K applies to the hc and mhc arms only
  --bin PATH       the trainer (default: build/app/mhc-train of this checkout)
  --jobs N         runs at a time (default: 1)
  -h, --help       print this help and exit

The hc and mhc arms use the config's residual.n_streams when it is > 1, else 4; the residual arm uses 1.
Exit status: 0 every run complete, 1 some run failed (its log: DIR/TYPE-sSEED/train.log), 2 usage error.
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
for t in "${types[@]}"; do
  case $t in residual | hc | mhc) ;; *) die_usage "--types: unknown residual type '$t' (residual, hc, mhc)" ;; esac
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

# run_state RUN_DIR: prints "LAST_STEP STEPS" and succeeds when metrics.jsonl reaches train.steps of the run's
# config.resolved.json; fails (printing what it found) otherwise.
run_state() {
  "$python" - "$1" <<'EOF'
import json, os, sys
d = sys.argv[1]
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
    print("0 ?")
    sys.exit(1)
print(last, steps)
sys.exit(0 if last >= steps else 1)
EOF
}

mkdir -p "$out"
fail_list=$(mktemp)
trap 'rm -f "$fail_list"' EXIT

# run_one TYPE SEED: one cell of the grid; prints one line (plus the log tail on failure).
run_one() {
  local type=$1 seed=$2
  local name="$type-s$seed"
  local dir="$out/$name"
  local streams=$multi_streams
  [ "$type" = residual ] && streams=1
  local args=(train --config "$config" --set "residual.type=$type" --set "residual.n_streams=$streams"
    --set "train.seed=$seed")
  local kv
  for kv in ${user_sets[@]+"${user_sets[@]}"}; do
    [ "$type" = residual ] && [ "${kv%%=*}" = residual.n_streams ] && continue
    args+=(--set "$kv")
  done
  args+=(--out "$dir")
  local want state
  want=$(printf '%s\n' "${args[@]}")

  if [ -d "$dir" ]; then
    if state=$(run_state "$dir"); then
      if [ -f "$dir/sweep.args" ] && [ "$(cat "$dir/sweep.args")" = "$want" ]; then
        printf 'skip  %-14s complete (step %s)\n' "$name" "${state%% *}"
        return 0
      fi
      printf 'FAIL  %-14s finished with other arguments (see %s); remove it or use another --out\n' \
        "$name" "$dir/sweep.args"
      echo "$name" >>"$fail_list"
      return 0
    fi
    rm -rf "$dir"  # incomplete: start again from scratch
  fi
  mkdir -p "$dir"
  printf '%s\n' "$want" >"$dir/sweep.args"
  local start=$SECONDS rc=0
  "$bin" "${args[@]}" >"$dir/train.log" 2>&1 || rc=$?
  local secs=$((SECONDS - start))
  if [ "$rc" -ne 0 ]; then
    {
      printf 'FAIL  %-14s exit %d after %ds; log: %s\n' "$name" "$rc" "$secs" "$dir/train.log"
      tail -n 10 "$dir/train.log" | sed 's/^/      | /'
    }
    echo "$name" >>"$fail_list"
  elif ! state=$(run_state "$dir"); then
    printf 'FAIL  %-14s exit 0 but metrics.jsonl stops at step %s of %s; log: %s\n' \
      "$name" "${state%% *}" "${state#* }" "$dir/train.log"
    echo "$name" >>"$fail_list"
  else
    printf 'ok    %-14s %s steps in %ds\n' "$name" "${state#* }" "$secs"
  fi
}

total=$((${#types[@]} * ${#seeds[@]}))
echo "sweep: $total runs (types $types_csv x seeds $seeds_csv) into $out, $jobs at a time"
running=0
for type in "${types[@]}"; do
  for seed in "${seeds[@]}"; do
    if [ "$jobs" -eq 1 ]; then
      run_one "$type" "$seed"
    else
      if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
      fi
      run_one "$type" "$seed" &
      running=$((running + 1))
    fi
  done
done
wait

if [ -s "$fail_list" ]; then
  echo "sweep: $(wc -l <"$fail_list") of $total runs failed: $(sort "$fail_list" | paste -sd ' ' -)" >&2
  exit 1
fi
echo "sweep: all $total runs complete in $out"
