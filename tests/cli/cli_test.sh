#!/usr/bin/env bash
# End-to-end tests of the mhc-train command line: exit codes and the one-line errors for bad configs.
# Usage: cli_test.sh PATH/TO/mhc-train REPO_ROOT
set -u
bin=$1
root=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/expect.sh"

expect help 0 "plan" -- "$bin" --help
expect version 0 "^mhc-train [0-9]+\.[0-9]+\.[0-9]+" -- "$bin" --version
expect no-subcommand 2 "subcommand" -- "$bin"
# Every registered connection type, "NAME N" (default residual.n_streams), the plain residual first; each trains.
expect types 0 "^residual 1" -- "$bin" types
bad_lines=$(grep -Evc '^[a-z_]+ [1-8]$' <<<"$last_out" || true)
check types-format "$([ "$bad_lines" = 0 ] && [ "$(wc -l <<<"$last_out")" -ge 3 ] && echo 0 || echo 1)" \
  "types printed lines that are not 'NAME N': $last_out"
for type_line in $(tr ' ' ':' <<<"$last_out"); do
  expect "plan-type-${type_line%%:*}" 0 "\"type\": \"${type_line%%:*}\"" -- "$bin" plan \
    --set "residual.type=${type_line%%:*}" --set "residual.n_streams=${type_line##*:}"
done
expect plan-default 0 "parameters by component" -- "$bin" plan
expect plan-set 0 '"type": "hc"' -- "$bin" plan --set residual.type=hc
# Memory in both precisions, the config's named.
expect plan-bf16 0 "this config: train\.precision bf16, recompute off: " -- "$bin" plan --set train.precision=bf16
check plan-bf16-rows "$(grep -Eq '^    recompute off +[0-9.]+ MiB +[0-9.]+ MiB +\(-[0-9.]+%\)$' <<<"$last_out" &&
  grep -Eq '^  bf16 weight copies +0 B +[0-9.]+ MiB$' <<<"$last_out" && echo 0 || echo 1)" "plan printed: $last_out"
expect plan-pipeline 0 "overall +0\.200 " -- "$bin" plan --set parallel.pp=4 --set train.micro_batches=8
expect plan-dualpipe 0 "rank 3 +[0-9.]+" -- "$bin" plan --set parallel.pp=4 --set parallel.schedule=dualpipe --set train.micro_batches=8
# The lower-case notation note only where a rank runs two stages; the launch line the config needs.
expect plan-1f1b-no-note 0 '!Lower-case' -- "$bin" plan --config "$root/configs/pp2-1f1b-mhc.json"
expect plan-dualpipe-note 0 "Lower-case: a rank's second stage" -- "$bin" plan --config "$root/configs/pp2-dualpipe-mhc.json"
expect plan-dualpipev-note 0 "Lower-case: a rank's second stage" -- "$bin" plan --config "$root/configs/pp2-dualpipev-mhc.json"
# Calibrated plan: the schedule simulated again with given costs, or with a trace's, its measured bubble beside.
expect plan-costs 0 "simulated with measured costs F 2 ms, B 2\.4 ms, W 1 ms \(F:B:W = 1 : 1\.20 : 0\.50\) and 0\.5 ms" -- \
  "$bin" plan --config "$root/configs/pp2-1f1b-mhc.json" --costs 2,2.4,1,0.5
cat >"$tmp/trace.json" <<'TRACE'
{"traceEvents": [{"name": "thread_name", "ph": "M", "pid": 0, "tid": 0, "args": {"name": "rank 0"}},
 {"name": "step", "cat": "step", "ph": "X", "ts": 0, "dur": 1000, "pid": 0, "tid": 0, "args": {"mb": -1, "stage": -1}},
 {"name": "F", "cat": "F", "ph": "X", "ts": 0, "dur": 300, "pid": 0, "tid": 0, "args": {"mb": 0, "stage": 0}},
 {"name": "B", "cat": "B", "ph": "X", "ts": 500, "dur": 400, "pid": 0, "tid": 0, "args": {"mb": 0, "stage": 0}},
 {"name": "W", "cat": "W", "ph": "X", "ts": 900, "dur": 100, "pid": 0, "tid": 0, "args": {"mb": 0, "stage": 0}},
 {"name": "step", "cat": "step", "ph": "X", "ts": 0, "dur": 1000, "pid": 0, "tid": 1, "args": {"mb": -1, "stage": -1}},
 {"name": "wait", "cat": "wait", "ph": "X", "ts": 0, "dur": 300, "pid": 0, "tid": 1, "args": {"mb": 0, "stage": 1}},
 {"name": "F", "cat": "F", "ph": "X", "ts": 300, "dur": 300, "pid": 0, "tid": 1, "args": {"mb": 0, "stage": 1}},
 {"name": "B", "cat": "B", "ph": "X", "ts": 600, "dur": 400, "pid": 0, "tid": 1, "args": {"mb": 0, "stage": 1}}]}
TRACE
expect plan-costs-from 0 "simulated  measured" -- \
  "$bin" plan --config "$root/configs/pp2-1f1b-mhc.json" --costs-from "$tmp/trace.json"
check plan-costs-from-values "$(grep -Eq 'F 0\.3 ms, B 0\.4 ms, W 0\.1 ms .* and 0\.3 ms a receive' <<<"$last_out" &&
  grep -Eq '^  rank 0 +[0-9.]+ +0\.200$' <<<"$last_out" && grep -Eq '^  rank 1 +[0-9.]+ +0\.300$' <<<"$last_out" &&
  echo 0 || echo 1)" "plan --costs-from printed: $last_out"
re_literal() { sed 's/[][\.*^$+?(){}|]/\\&/g' <<<"$1"; }  # a string as an extended regex that matches it
re_bin=$(re_literal "$bin") re_root=$(re_literal "$root") re_tmp=$(re_literal "$tmp")
expect plan-launch-dp2-pp2 0 "^launch: mpirun -np 4 $re_bin train --config $re_root/configs/dp2-pp2-mhc\.json\$" -- \
  "$bin" plan --config "$root/configs/dp2-pp2-mhc.json"
expect plan-launch-dp2 0 "^launch: mpirun -np 2 $re_bin train --set parallel\.dp=2 --out '$re_tmp/my run'\$" -- \
  "$bin" plan --set parallel.dp=2 --out "$tmp/my run"
expect plan-launch-single 0 "^launch: $re_bin train --config $re_root/configs/tiny-mhc\.json\$" -- \
  "$bin" plan --config "$root/configs/tiny-mhc.json"
for arm in residual hc mhc; do
  expect "plan-tiny-$arm" 0 "\"type\": \"$arm\"" -- "$bin" plan --config "$root/configs/tiny-$arm.json"
done
for cfg in "$root"/configs/*.json; do
  expect "plan-$(basename "$cfg")" 0 "parameters by component" -- "$bin" plan --config "$cfg"
done

echo '{"model": {"d_model": 64}, "residual": {"n_stream": 4}}' >"$tmp/unknown.json"
expect unknown-key 2 "residual.n_stream.*did you mean 'residual.n_streams'" -- "$bin" plan --config "$tmp/unknown.json"
echo '{"train": {"lr": "fast"}}' >"$tmp/type.json"
expect wrong-type 2 'train.lr.*"fast"' -- "$bin" plan --config "$tmp/type.json"
echo '{"train": {"beta2": 1.5}}' >"$tmp/range.json"
expect bad-range 2 "train.beta2.*1.5" -- "$bin" plan --config "$tmp/range.json"
printf '{\n  "model": {\n    "d_model": 64,,\n  }\n}\n' >"$tmp/syntax.json"
expect bad-syntax 2 "syntax.json:3:[0-9]+" -- "$bin" plan --config "$tmp/syntax.json"
echo '{"model": {"d_model": 100, "n_heads": 3}}' >"$tmp/cross.json"
expect cross-field 2 "d_model.*n_heads" -- "$bin" plan --config "$tmp/cross.json"
expect missing-file 2 "no-such.json" -- "$bin" plan --config "$tmp/no-such.json"
expect set-unknown 2 "--set.*did you mean" -- "$bin" plan --set train.lrr=1
expect set-malformed 2 "key=value" -- "$bin" plan --set train.lr
expect bad-flag 2 "--bogus" -- "$bin" plan --bogus
expect bench-bad-repeats 2 "repeats" -- "$bin" bench ops --repeats 0

head -c 5000 /dev/urandom | base64 >"$tmp/corpus.txt"
expect data-prepare 0 "val_000000.bin: [0-9]+ tokens" -- "$bin" data prepare --text "$tmp/corpus.txt" --out "$tmp/shards"
expect data-prepare-files 0 "train_000000.bin" -- ls "$tmp/shards"
expect data-prepare-missing 1 "absent.txt" -- "$bin" data prepare --text "$tmp/absent.txt" --out "$tmp/x"

# A short training run on the prepared shards, then eval, sample, resume and the refusals.
small=(--set model.d_model=32 --set model.n_blocks=1 --set model.n_heads=2 --set model.ffn_hidden=64
       --set model.seq_len=16 --set train.micro_batch=2 --set train.steps=3 --set train.warmup=1
       --set train.eval_every=3 --set train.eval_batches=1 --set train.diag_every=3 --set train.log_every=1)
expect train-tokens 0 "step 3/3" -- "$bin" train "${small[@]}" --set data.source=tokens --set "data.path=$tmp/shards" \
  --out "$tmp/run"
expect train-metrics 0 '"val_loss"' -- cat "$tmp/run/metrics.jsonl"
expect train-resolved 0 '"source": "tokens"' -- cat "$tmp/run/config.resolved.json"
# Run directories are never mixed: a second train into a run's --out refuses (exit 2) and leaves every file of the
# run byte-identical; --overwrite replaces the run (its files only) and --resume with it is a usage error.
sums() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
before=$(sums "$tmp/run")
expect train-out-holds-run 2 "--out .*/run already holds a run \(config\.resolved\.json, metrics\.jsonl, checkpoints.*--resume.*--overwrite" -- \
  "$bin" train "${small[@]}" --set data.source=tokens --set "data.path=$tmp/shards" --out "$tmp/run"
check train-out-run-untouched "$([ "$before" = "$(sums "$tmp/run")" ]; echo $?)" "the refused run's files changed"
cp -r "$tmp/run" "$tmp/run-ow"
echo note >"$tmp/run-ow/notes.txt"
expect train-overwrite 0 "step 2/2" -- "$bin" train "${small[@]}" --set train.steps=2 --set data.source=tokens \
  --set "data.path=$tmp/shards" --out "$tmp/run-ow" --overwrite
check train-overwrite-replaced "$([ "$(ls "$tmp/run-ow/checkpoints")" = step_00000002 ] &&
  [ "$(grep -c . "$tmp/run-ow/metrics.jsonl")" = 2 ] && [ -f "$tmp/run-ow/notes.txt" ]; echo $?)" \
  "checkpoints $(ls "$tmp/run-ow/checkpoints"), $(grep -c . "$tmp/run-ow/metrics.jsonl") metric lines"
expect train-overwrite-resume 2 "excludes" -- "$bin" train --resume "$tmp/run-ow" --overwrite

# A run shortened with --set train.steps below its config's train.warmup: the warm-up is clamped, the notice printed
# once and recorded in run.json; a negative warm-up is still refused.
echo '{"train": {"steps": 100, "warmup": 30}}' >"$tmp/warm.json"
expect train-warmup-clamped 0 "train.warmup 30 of .*warm.json is more than train.steps=3; clamped to train.warmup=3" -- \
  "$bin" train --config "$tmp/warm.json" "${small[@]/train.warmup=1/train.log_every=1}" --out "$tmp/run-warm"
check train-warmup-notice-once "$([ "$(grep -c "clamped to" <<<"$last_out")" = 1 ]; echo $?)" "printed $(grep -c "clamped to" <<<"$last_out") times"
expect train-warmup-resolved 0 '"warmup": 3' -- cat "$tmp/run-warm/config.resolved.json"
expect train-warmup-recorded 0 '"notices": \[ *"train.warmup 30 of [^"]*is more than train.steps=3; clamped' -- \
  tr -d '\n' <"$tmp/run-warm/run.json"
expect train-warmup-negative 2 "train.warmup must be >= 0, got -1" -- "$bin" plan --set train.warmup=-1

# metrics.jsonl: interval-mean loss, elapsed seconds, UTC time, the run id of run.json, smoothed tok/s and TFLOP/s;
# the console has no ANSI colour codes when stdout is not a terminal.
python3 - "$tmp/run-warm" <<'PY'
import json, re, sys
run = sys.argv[1]
rid = json.load(open(run + "/run.json"))["run_id"]
recs = [json.loads(l) for l in open(run + "/metrics.jsonl")]
assert re.fullmatch(r"[0-9a-f]{16}", rid), rid
for r in recs:
    assert r["run_id"] == rid and r["elapsed_s"] > 0 and r["tflops"] > 0 and r["tok_s"] > 0, r
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["time"]), r
# log_every 1: each record's interval is its own step
assert all(r["loss_mean"] == r["loss"] for r in recs), recs
PY
check train-metrics-fields $? "metrics.jsonl lacks or garbles the new fields"
# loss_mean is the mean over the steps since the previous record: with log_every 2 it is the mean of the two losses
# that a log_every 1 run of the same config logs.
quiet=(--set train.steps=4 --set train.eval_every=0 --set train.diag_every=0)
"$bin" train "${small[@]}" "${quiet[@]}" --out "$tmp/run-each" >/dev/null 2>&1
"$bin" train "${small[@]}" "${quiet[@]}" --set train.log_every=2 --out "$tmp/run-pairs" >/dev/null 2>&1
python3 - "$tmp/run-each" "$tmp/run-pairs" <<'PY'
import json, sys
each, pairs = ([json.loads(l) for l in open(d + "/metrics.jsonl")] for d in sys.argv[1:])
loss = {r["step"]: r["loss"] for r in each}
got = {r["step"]: r["loss_mean"] for r in pairs}
# step 1 is always logged, so the interval of step 2 is step 2 alone
want = {1: loss[1], 2: loss[2], 4: (loss[3] + loss[4]) / 2}
assert set(got) == {1, 2, 4} and all(abs(got[s] - want[s]) < 1e-12 for s in got), (got, want)
PY
check train-metrics-loss-mean $? "loss_mean is not the mean over the interval"
expect eval-full-synthetic 2 'data.source "synthetic" has no held-out split.*--file' -- \
  "$bin" eval --checkpoint "$tmp/run-warm" --full
expect train-no-ansi 0 '!'$'\e''\[' -- "$bin" train "${small[@]}" --out "$tmp/run-ansi"
expect eval 0 '"val_loss"' -- "$bin" eval --checkpoint "$tmp/run"
# eval names what it evaluated; --full passes over every non-overlapping window of the held-out split (or --file),
# the same loss whatever the batch (a partial last batch included).
expect eval-names-data 0 '"data": "the val split of tokens ' -- "$bin" eval --checkpoint "$tmp/run"
check eval-names-windows "$(tr -d '\n ' <<<"$last_out" | grep -q '"tokens":32,"val_loss":[0-9.]*,"windows":2}'; echo $?)" \
  "no windows/tokens count: $last_out"
expect eval-full 0 '"mode": "full"' -- "$bin" eval --checkpoint "$tmp/run" --full --set train.micro_batch=4
full_b4=$last_out
expect eval-full-batch1 0 '"tokens_left_out"' -- "$bin" eval --checkpoint "$tmp/run" --full --set train.micro_batch=1
python3 - "$full_b4" "$last_out" <<'PY'
import json, sys
a, b = (json.loads(t) for t in sys.argv[1:])
assert a["data"].startswith("the val split of tokens") and a["windows"] > 4 and a["windows"] % 4 != 0, a
assert a["tokens"] == a["windows"] * 16 and a["tokens_left_out"] < 16, a
assert abs(a["loss"] - b["loss"]) < 1e-6 and a["tokens"] == b["tokens"], (a, b)
PY
check eval-full-any-batch $? "eval --full differs between batch 4 and 1: $full_b4 / $last_out"
expect eval-full-file 0 "\"data\": \"$re_tmp/shards/val_000000\.bin\"" -- \
  "$bin" eval --checkpoint "$tmp/run" --full --file "$tmp/shards/val_000000.bin"
expect eval-file-needs-full 2 "--file requires --full" -- "$bin" eval --checkpoint "$tmp/run" --file "$tmp/shards"
expect sample 0 "^hello" -- "$bin" sample --checkpoint "$tmp/run/checkpoints/step_00000003" --prompt hello --tokens 5
expect sample-top-k 0 "^hello" -- "$bin" sample --checkpoint "$tmp/run" --prompt hello --tokens 5 --top-k 3 --top-p 0.9
expect sample-top-p-zero 2 "--top-p.*must be > 0" -- "$bin" sample --checkpoint "$tmp/run" --top-p 0
expect sample-top-p-big 2 "--top-p" -- "$bin" sample --checkpoint "$tmp/run" --top-p 1.5
expect sample-top-k-negative 2 "--top-k" -- "$bin" sample --checkpoint "$tmp/run" --top-k -1
expect sample-help-defaults 0 "--top-p FLOAT.*=1$" -- "$bin" sample --help
expect sample-help-temperature 0 "--temperature FLOAT.*=0\.8$" -- "$bin" sample --help
expect bench-step-no-out 2 "--out" -- "$bin" bench step --out "$tmp/x"
# A token model (vocab above 256): the prompt as ids, the output as ids; bytes are refused.
expect train-vocab300 0 "step 3/3" -- "$bin" train "${small[@]}" --set data.source=tokens --set "data.path=$tmp/shards" \
  --set model.vocab_size=300 --out "$tmp/run-300"
expect sample-prompt-ids 0 "^1 2 299( [0-9]+){4}$" -- "$bin" sample --checkpoint "$tmp/run-300" --prompt-ids 1,2,299 \
  --tokens 4
expect sample-ids-range 2 "--prompt-ids: 300 is not a token" -- "$bin" sample --checkpoint "$tmp/run-300" --prompt-ids 300
expect sample-bytes-on-token-model 2 "--prompt-ids" -- "$bin" sample --checkpoint "$tmp/run-300" --prompt hi
# llm.c's tokenizer file (magic 20240328, version 2, vocab, end-of-text id; per token a length byte and the bytes):
# 290 pieces "tN_", so ids 290 .. 299 of the padded vocabulary print as <id>; a wrong magic is a runtime error.
python3 - "$tmp/tok.bin" <<'PY'
import struct, sys
pieces = [f"t{i}_".encode() for i in range(290)]
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<256I", 20240328, 2, len(pieces), 0, *[0] * 252))
    for p in pieces: f.write(bytes([len(p)]) + p)
PY
expect sample-tokenizer 0 '^t1_t2_<299>(t[0-9]+_|<29[0-9]>){3}$' -- "$bin" sample --checkpoint "$tmp/run-300" \
  --prompt-ids 1,2,299 --tokens 3 --tokenizer "$tmp/tok.bin"
printf 'not a tokenizer' >"$tmp/bad-tok.bin"
expect sample-tokenizer-bad 1 "tokenizer '.*bad-tok.bin': shorter than its 1024-byte header" -- "$bin" sample \
  --checkpoint "$tmp/run-300" --prompt-ids 1 --tokenizer "$tmp/bad-tok.bin"
expect resume-extend 0 "resumed at step 3" -- "$bin" train --resume "$tmp/run" --set train.steps=4
expect resume-metrics 0 '"step":4' -- tail -1 "$tmp/run/metrics.jsonl"
# The precision may change at a resume (checkpoints hold the f32 masters); each launch records its own.
expect resume-bf16 0 "resumed at step 4" -- "$bin" train --resume "$tmp/run" --set train.steps=5 \
  --set train.precision=bf16
check resume-bf16-launch "$(grep -q ' | bf16 | ' <<<"$last_out" && echo 0 || echo 1)" "no precision in: $last_out"
expect resume-bf16-run-json 0 '^fp32 fp32 bf16$' -- python3 -c \
  "import json; print(*[l['precision'] for l in json.load(open('$tmp/run/run.json'))['launches']])"
expect eval-bf16 0 '"precision": "bf16"' -- "$bin" eval --checkpoint "$tmp/run"
expect eval-fp32-of-bf16 0 '"precision": "fp32"' -- "$bin" eval --checkpoint "$tmp/run" --set train.precision=fp32
expect resume-not-a-run 2 "no config.resolved.json" -- "$bin" train --resume "$tmp/shards"
expect eval-no-checkpoint 1 "absent" -- "$bin" eval --checkpoint "$tmp/absent"
truncate -s 100 "$tmp/run/checkpoints/step_00000005/model.safetensors"
expect eval-truncated 1 "model.safetensors" -- "$bin" eval --checkpoint "$tmp/run"
expect train-bad-vocab 1 "token id" -- "$bin" train "${small[@]}" --set data.source=tokens --set "data.path=$tmp/shards" \
  --set model.vocab_size=65 --out "$tmp/run-vocab"

expect train-pp-needs-ranks 2 "this job has 1 rank but parallel.pp x parallel.dp = 2 x 1 = 2" -- "$bin" train "${small[@]}" --set model.n_blocks=2 --set parallel.pp=2 --out "$tmp/run-pp"
expect train-cuda-no-gpu 1 'parallel.device "cuda": ' -- "$bin" train "${small[@]}" --set parallel.device=cuda \
  --out "$tmp/run-cuda"

# Divergence: a huge learning rate without clipping makes the loss non-finite; the skipped steps are logged and the
# run stops with an error after 3 in a row, leaving the last good checkpoint.
expect train-diverges 1 "consecutive steps with a non-finite loss" -- "$bin" train "${small[@]}" --set train.steps=20 \
  --set train.lr=1e30 --set train.min_lr=0 --set train.grad_clip=0 --set checkpoint.every=1 --out "$tmp/run-nan"
expect train-diverges-logged 0 '"skipped":true' -- cat "$tmp/run-nan/metrics.jsonl"
# The newest checkpoint is intact (it loads: every file valid, every weight finite), but its weights are the
# diverged ones, so eval names the non-finite loss instead of printing it as a number.
expect train-diverges-checkpoint 1 'step_[0-9]+.: the validation loss is -?nan although every weight is finite' -- \
  "$bin" eval --checkpoint "$tmp/run-nan"

# SIGTERM and SIGUSR1: the run finishes its step, writes a checkpoint and exits 0.
for sig in TERM USR1; do
  "$bin" train "${small[@]}" --set train.steps=100000 --out "$tmp/run-$sig" >"$tmp/$sig.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do [ -s "$tmp/run-$sig/metrics.jsonl" ] && break; sleep 0.1; done
  kill "-$sig" "$pid"
  wait "$pid"
  rc=$?
  if [ "$rc" -eq 0 ] && ls "$tmp/run-$sig/checkpoints" | grep -q step_ && [ -f "$tmp/run-$sig/stopped.json" ] &&
    grep -q "stopped by signal" "$tmp/$sig.log"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: SIG$sig (exit $rc)"
    sed 's/^/    /' "$tmp/$sig.log" | tail -5
  fi
done

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
