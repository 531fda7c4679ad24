#!/usr/bin/env bash
# mhc-train under mpirun, end to end: a 2-rank pipeline run writes metrics, a whole-model checkpoint and a Chrome
# trace; a wrong rank count is one error on every rank; a rank that fails alone (its data file is unreadable,
# as on a node without the file) ends the whole job within seconds with that rank's message; SIGUSR1 and SIGTERM to
# mpirun each stop the run with one checkpoint and stopped.json, and it resumes.
# Usage: mpirun_cli_test.sh MPIEXEC PATH/TO/mhc-train REPO_ROOT
set -u
mpiexec=$1
bin=$2
root=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
run=("$mpiexec" --oversubscribe)
failed=0
fail() { echo "FAIL: $*"; failed=1; }

small=(--set model.d_model=32 --set model.n_heads=2 --set model.ffn_hidden=64 --set model.seq_len=16
       --set train.micro_batch=2 --set train.steps=4 --set train.warmup=1 --set train.eval_every=4 --set train.log_every=1
       --set train.diag_every=4)

# A 2-rank DualPipeV run.
out=$("${run[@]}" -np 2 "$bin" train --config "$root/configs/pp2-dualpipev-mhc.json" "${small[@]}" \
      --out "$tmp/pp2" 2>&1)
rc=$?
[ $rc -eq 0 ] || fail "pp2 run exited $rc: $(echo "$out" | tail -5)"
[ "$(wc -l <"$tmp/pp2/metrics.jsonl")" -eq 4 ] || fail "pp2 run: metrics.jsonl has not 4 lines"
grep -q '"val_loss"' "$tmp/pp2/metrics.jsonl" || fail "pp2 run: no val_loss"
grep -q '"amax_fwd"' "$tmp/pp2/metrics.jsonl" || fail "pp2 run: no diagnostics"
[ -f "$tmp/pp2/checkpoints/step_00000004/model.safetensors" ] || fail "pp2 run: no checkpoint"
python3 - "$tmp/pp2/trace.json" <<'PY' || fail "pp2 run: trace.json is not a 2-row Chrome trace"
import json, sys
ev = json.load(open(sys.argv[1]))["traceEvents"]
spans = [e for e in ev if e.get("ph") == "X"]
assert {e["tid"] for e in spans} == {0, 1}, "one row per rank"
assert {"F", "B", "W", "step"} <= {e["cat"] for e in spans}, "compute and step spans"
PY
summary=$(python3 "$root/scripts/trace_summary.py" "$tmp/pp2/trace.json") || fail "trace_summary.py failed: $summary"
grep -q "mean bubble over ranks" <<<"$summary" || fail "trace_summary.py printed no bubble: $summary"

# Wrong rank count: every rank says so, exit 2.
out=$("${run[@]}" -np 3 "$bin" train --config "$root/configs/pp2-1f1b-mhc.json" "${small[@]}" --out "$tmp/bad" 2>&1)
rc=$?
[ $rc -ne 0 ] || fail "3 ranks for pp 2 x dp 1 exited 0"
grep -q "this job has 3 ranks but parallel.pp x parallel.dp = 2 x 1 = 2" <<<"$out" || fail "no rank-count error: $out"

# Rank 1 alone cannot read its data file; rank 0 would wait for it forever without error propagation.
head -c 20000 "$root/README.md" >"$tmp/corpus.txt"
text=(--set data.source=text)
start=$(date +%s)
out=$(timeout 60 "${run[@]}" -np 1 "$bin" train --config "$root/configs/pp2-1f1b-mhc.json" "${small[@]}" "${text[@]}" \
        --set data.path="$tmp/corpus.txt" --out "$tmp/fault" : \
      -np 1 "$bin" train --config "$root/configs/pp2-1f1b-mhc.json" "${small[@]}" "${text[@]}" \
        --set data.path="$tmp/missing/corpus.txt" --out "$tmp/fault" 2>&1)
rc=$?
secs=$(( $(date +%s) - start ))
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "failing rank: job exit $rc (124 = hung until the timeout)"
[ $secs -le 30 ] || fail "failing rank: the job took $secs s to end"
grep -q "rank 1 of 2" <<<"$out" || fail "failing rank: no 'rank 1 of 2' in the output: $out"
grep -q "missing/corpus.txt" <<<"$out" || fail "failing rank: rank 1's message (the path) is missing: $out"

# Signals to the launcher. SIGUSR1: mpirun forwards it to every rank at once; they stop at the same step, rank 0
# writes one checkpoint and stopped.json naming it, and the job ends by itself with exit 0. SIGTERM: mpirun sends the
# ranks SIGCONT, waits odls_base_sigkill_timeout seconds, sends SIGTERM, waits as long again and kills them, and
# drains no output while it waits (a rank that logs every step fills its stdout pipe: this test's runs log every
# step, which is how a rank blocked in write() used to miss its checkpoint); the checkpoint and stopped.json are
# written all the same and mpirun exits non-zero. Both runs resume from their checkpoint.
long=("${small[@]}" --set train.steps=100000 --set train.eval_every=0 --set train.diag_every=0)
# signal_stop NAME SIGNAL EXPECTED_RC: starts a 2-rank run, signals mpirun once it has logged a step, checks the stop.
signal_stop() {
  local name=$1 sig=$2 want_rc=$3 pid rc step out
  OMPI_MCA_odls_base_sigkill_timeout=5 "${run[@]}" -np 2 "$bin" train --config "$root/configs/pp2-1f1b-mhc.json" \
    "${long[@]}" --out "$tmp/$name" >"$tmp/$name.log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do [ -s "$tmp/$name/metrics.jsonl" ] && break; sleep 0.1; done
  kill "-$sig" "$pid"
  wait "$pid"
  rc=$?
  if [ "$want_rc" = nonzero ]; then
    [ $rc -ne 0 ] || fail "$sig to mpirun: exit 0, expected mpirun's non-zero exit"
  else
    [ $rc -eq "$want_rc" ] || fail "$sig to mpirun: exit $rc, expected $want_rc: $(tail -5 "$tmp/$name.log")"
  fi
  python3 - "$tmp/$name" <<'PY' || fail "$sig to mpirun: no stopped.json naming the only checkpoint: $(tail -5 "$tmp/$name.log")"
import json, os, sys
run = sys.argv[1]
stopped = json.load(open(os.path.join(run, "stopped.json")))
steps = sorted(os.listdir(os.path.join(run, "checkpoints")))
assert len(steps) == 1 and stopped["checkpoint"].endswith(steps[0]), (stopped, steps)
assert stopped["step"] == int(steps[0].split("_")[1]) >= 1, stopped
PY
  step=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['step'])" "$tmp/$name/stopped.json" 2>/dev/null)
  [ -n "$step" ] || return
  out=$("${run[@]}" -np 2 "$bin" train --resume "$tmp/$name" --set train.steps=$((step + 1)) 2>&1) ||
    fail "resume after $sig to mpirun failed: $(echo "$out" | tail -5)"
  [ ! -e "$tmp/$name/stopped.json" ] || fail "the run resumed after $sig left stopped.json"
}
signal_stop usr1 USR1 0
signal_stop term TERM nonzero

[ $failed -eq 0 ] && echo "mpirun cli tests passed"
exit $failed
