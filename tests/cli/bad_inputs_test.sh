#!/usr/bin/env bash
# Bad inputs and faults as a hostile user would try them (issue 12): each one clear message and the documented exit
# code, never a crash, a wrapped number, raw library text or a silent success; plus the signals contract.
# Usage: bad_inputs_test.sh PATH/TO/mhc-train
set -u
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/expect.sh"
big=4611686018427387904  # 2^62
raw='json\.exception|basic_filebuf|std::|bad_alloc|what\(\)'

# expect_clean NAME CODE PATTERN -- command...: expect, and the output has no raw library text.
expect_clean() {
  expect "$@"
  if grep -Eq -- "$raw" <<<"$last_out"; then
    failed=$((failed + 1))
    echo "FAIL: $1: raw library text: $(grep -E -- "$raw" <<<"$last_out" | head -2)"
  fi
}

# ---- configs and sizes (plan refuses what train refuses) ----
python3 -c "print('{\"model\": ' + '[' * 100000 + ']' * 100000 + '}')" >"$tmp/deep.json"
expect_clean deep-json 2 "deep.json: JSON nested deeper than 64 levels" -- "$bin" plan --config "$tmp/deep.json"
echo '{"train": {"lr": 1e999}}' >"$tmp/huge.json"
expect_clean number-1e999 2 "huge.json: JSON number overflow parsing '1e999'" -- "$bin" plan --config "$tmp/huge.json"
expect_clean set-1e999 2 "--set train.lr=1e999: number overflow" -- "$bin" plan --set train.lr=1e999
# plan's measured costs: the option or the trace named, nothing else printed.
expect_clean bf16-cuda 2 'train.precision "bf16" runs on the CPU only so far' -- "$bin" plan \
  --set train.precision=bf16 --set parallel.device=cuda
expect_clean precision-fp16 2 'train.precision must be one of "fp32", "bf16", got "fp16"' -- "$bin" plan \
  --set train.precision=fp16
expect_clean plan-costs-two 2 "--costs" -- "$bin" plan --set parallel.pp=2 --costs 1,2
expect_clean plan-costs-zero 2 "^error: --costs: F, B and W must be > 0 ms, got 0,1,1$" -- \
  "$bin" plan --set parallel.pp=2 --costs 0,1,1
expect_clean plan-costs-nan 2 "--costs" -- "$bin" plan --set parallel.pp=2 --costs 1,nan,1
expect_clean plan-costs-pp1 2 "set parallel.pp > 1" -- "$bin" plan --costs 1,1,1
expect_clean plan-costs-both 2 "excludes" -- "$bin" plan --set parallel.pp=2 --costs 1,1,1 --costs-from x.json
expect_clean plan-trace-missing 1 "^error: .*cannot read trace $tmp/none\.json$" -- \
  "$bin" plan --set parallel.pp=2 --costs-from "$tmp/none.json"
echo '{"traceEvents": [' >"$tmp/cut.json"
expect_clean plan-trace-cut 1 "cut\.json: not valid JSON" -- "$bin" plan --set parallel.pp=2 --costs-from "$tmp/cut.json"
echo '{"traceEvents": []}' >"$tmp/empty.json"
expect_clean plan-trace-empty 1 "empty\.json: no \"F\" span" -- \
  "$bin" plan --set parallel.pp=2 --costs-from "$tmp/empty.json"
for cmd in plan train; do
  expect_clean "$cmd-d_model-2^62" 2 "model.d_model=$big: this model cannot be built" -- \
    "$bin" $cmd --set model.d_model=$big --set model.n_heads=2 --out "$tmp/x"
  expect_clean "$cmd-seq_len-2^62" 2 "cannot be built" -- "$bin" $cmd --set model.seq_len=$big --out "$tmp/x"
  expect_clean "$cmd-micro_batch-2^62" 2 "cannot be built" -- "$bin" $cmd --set train.micro_batch=$big --out "$tmp/x"
  expect_clean "$cmd-steps-2^55" 2 "the tokens of the run .* do not fit 64 bits" -- \
    "$bin" $cmd --set train.steps=36028797018963968 --set train.warmup=0 --out "$tmp/x"
  expect_clean "$cmd-vocab-2^62" 2 "model.vocab_size must be <= 2147483647" -- \
    "$bin" $cmd --set model.vocab_size=$big --out "$tmp/x"
  expect_clean "$cmd-sinkhorn-3e9" 2 "residual.sinkhorn_iters must be <= 1000 .*got 3000000000" -- \
    "$bin" $cmd --set residual.sinkhorn_iters=3000000000 --out "$tmp/x"
  expect_clean "$cmd-n_blocks-1e8" 2 "model.n_blocks must be <= 1024" -- \
    "$bin" $cmd --set model.n_blocks=100000000 --out "$tmp/x"
  expect_clean "$cmd-pp-1e5" 2 "must be <= 1024" -- \
    "$bin" $cmd --set model.n_blocks=100000 --set parallel.pp=100000 --out "$tmp/x"
  expect_clean "$cmd-pipeline-slots" 2 "1024 pipeline stages x train.micro_batches 65536 is more than 262144" -- \
    "$bin" $cmd --set parallel.pp=1024 --set model.n_blocks=1024 --set train.micro_batches=65536 --out "$tmp/x"
  expect_clean "$cmd-pp-x-dp" 2 "parallel.pp x parallel.dp = 4 x $big ranks is more than 2147483647" -- \
    "$bin" $cmd --set parallel.pp=4 --set parallel.dp=$big --out "$tmp/x"
done
expect_clean train-beyond-memory 1 "train needs at least .* but this machine has" -- \
  "$bin" train --set model.d_model=1048576 --out "$tmp/too-big"

# ---- data ----
mkdir -p "$tmp/a-dir"
expect_clean data-path-directory 1 "data.path '$tmp/a-dir' is a directory" -- \
  "$bin" train --set data.source=text --set "data.path=$tmp/a-dir" --out "$tmp/x"
expect_clean tokens-directory-empty 1 "no token files match" -- \
  "$bin" train --set data.source=tokens --set "data.path=$tmp/a-dir" --out "$tmp/x"
expect_clean prepare-text-directory 1 "--text '$tmp/a-dir' is a directory" -- \
  "$bin" data prepare --text "$tmp/a-dir" --out "$tmp/x"
head -c 6000 /dev/urandom | base64 >"$tmp/corpus.txt"
expect_clean prepare-nan-fraction 2 "--val-fraction: must be a finite number, got nan" -- \
  "$bin" data prepare --text "$tmp/corpus.txt" --out "$tmp/x" --val-fraction nan
expect_clean prepare-empty-out 2 "--out: must not be empty" -- "$bin" data prepare --text "$tmp/corpus.txt" --out ""
expect_clean train-empty-out 2 "--out: must not be empty" -- "$bin" train --out ""
expect_clean train-empty-config 2 "--config: must not be empty" -- "$bin" train --config "" --out "$tmp/x"
printf 'not a shard' >"$tmp/a-dir/bad.bin"
expect_clean tokens-bad-shard 1 "bad.bin' is truncated" -- \
  "$bin" train --set data.source=tokens --set "data.path=$tmp/a-dir" --out "$tmp/x"

# ---- a small run on byte tokens with vocab 250, then bad checkpoints and bad flags ----
expect prepare 0 "val_000000.bin" -- "$bin" data prepare --text "$tmp/corpus.txt" --out "$tmp/shards"
small=(--set model.d_model=32 --set model.n_blocks=1 --set model.n_heads=2 --set model.ffn_hidden=64
       --set model.seq_len=16 --set model.vocab_size=250 --set data.source=tokens --set "data.path=$tmp/shards"
       --set train.micro_batch=2 --set train.steps=3 --set train.warmup=1 --set train.eval_every=3
       --set train.eval_batches=2 --set train.diag_every=3 --set train.log_every=1)
expect train 0 "step 3/3" -- "$bin" train "${small[@]}" --out "$tmp/run"
check no-stop-marker "$([ ! -e "$tmp/run/stopped.json" ]; echo $?)" "a finished run left stopped.json"
ck="$tmp/run/checkpoints/step_00000003"

# One validation loss: the run's last val_loss is eval's of the final checkpoint, to the last bit.
"$bin" eval --checkpoint "$tmp/run" >"$tmp/eval.json" 2>&1
python3 - "$tmp/run/metrics.jsonl" "$tmp/eval.json" <<'PY'
import json, sys
last = [json.loads(l) for l in open(sys.argv[1]) if l.strip()][-1]
ev = json.load(open(sys.argv[2]))
assert last["step"] == ev["step"] == 3, (last, ev)
assert last["val_loss"] == ev["val_loss"], (last["val_loss"], ev["val_loss"])
PY
check val-loss-equals-eval $? "the last val_loss in metrics.jsonl differs from eval of the final checkpoint"

expect_clean sample-nan-temperature 2 "--temperature: must be a finite number, got nan" -- \
  "$bin" sample --checkpoint "$tmp/run" --temperature nan --tokens 2
expect_clean sample-negative-seed 2 "--seed" -- "$bin" sample --checkpoint "$tmp/run" --seed -1 --tokens 2
expect_clean sample-prompt-outside-vocab 2 "--prompt byte 255 at position 2 is not a token .*model.vocab_size 250" -- \
  "$bin" sample --checkpoint "$tmp/run" --prompt $'ab\xff' --tokens 2
expect sample-ok 0 "^ab" -- "$bin" sample --checkpoint "$tmp/run" --prompt ab --tokens 2
expect_clean eval-empty-checkpoint 2 "--checkpoint: must not be empty" -- "$bin" eval --checkpoint ""

# A copy of the run with one change each.
variant() {  # variant NAME PYTHON_CODE (edits files under sys.argv[1], the checkpoint directory)
  rm -rf "$tmp/$1"
  cp -r "$tmp/run" "$tmp/$1"
  python3 - "$tmp/$1/checkpoints/step_00000003" <<<"$2"
}
st_io='
import json, struct, sys
def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), bytearray(raw[8 + n:])
def save(path, header, data):
    text = json.dumps(header).encode()
    open(path, "wb").write(struct.pack("<Q", len(text)) + text + bytes(data))
path = sys.argv[1] + "/model.safetensors"
header, data = load(path)
'
variant nan-weights "$st_io
begin = header['blocks.0.attn.wq']['data_offsets'][0]
data[begin + 4:begin + 8] = struct.pack('<f', float('nan'))
save(path, header, data)"
expect_clean eval-nan-weights 1 "tensor 'blocks.0.attn.wq' holds a non-finite value .*element 1" -- \
  "$bin" eval --checkpoint "$tmp/nan-weights"
expect_clean sample-nan-weights 1 "non-finite" -- "$bin" sample --checkpoint "$tmp/nan-weights" --tokens 2
variant overflowing-weights "$st_io
begin, end = header['embed.weight']['data_offsets']
data[begin:end] = struct.pack('<f', 3e38) * ((end - begin) // 4)
save(path, header, data)"
expect_clean eval-non-finite-loss 1 "the validation loss is (nan|inf|-nan) although every weight is finite" -- \
  "$bin" eval --checkpoint "$tmp/overflowing-weights"
variant absurd-offsets "$st_io
header['embed.weight']['data_offsets'] = [2**63 - 1, 2**64 - 1]
save(path, header, data)"
expect_clean eval-absurd-offsets 1 "model.safetensors: tensor 'embed.weight' has data_offsets" -- \
  "$bin" eval --checkpoint "$tmp/absurd-offsets"
variant deep-header "$st_io
text = b'{\"__metadata__\": {\"a\": ' + b'[' * 100000 + b']' * 100000 + b'}}'
open(path, 'wb').write(struct.pack('<Q', len(text)) + text + bytes(data))"
expect_clean eval-deep-header 1 "header: JSON nested deeper than 8 levels" -- "$bin" eval --checkpoint "$tmp/deep-header"
variant no-adam-updates "
import json, sys
p = sys.argv[1] + '/state.json'
s = json.load(open(p)); del s['adam_updates']; json.dump(s, open(p, 'w'))"
expect_clean resume-no-adam-updates 1 "state.json: no \"adam_updates\"" -- \
  "$bin" train --resume "$tmp/no-adam-updates" --set train.steps=4
variant text-skips "
import json, sys
p = sys.argv[1] + '/state.json'
s = json.load(open(p)); s['consecutive_skips'] = 'none'; json.dump(s, open(p, 'w'))"
expect_clean resume-mistyped-field 1 "\"consecutive_skips\" must be an integer below 2\^63, got \"none\"" -- \
  "$bin" train --resume "$tmp/text-skips" --set train.steps=4
variant state-1e999 "
import sys
p = sys.argv[1] + '/state.json'
text = open(p).read()
open(p, 'w').write(text.replace('{', '{\"x\": 1e999, ', 1))"
expect_clean eval-state-1e999 1 "state.json: not valid JSON: number overflow" -- "$bin" eval --checkpoint "$tmp/state-1e999"

# ---- signals ----
# A step of a few seconds, so that the signals arrive during a step.
# Steps of about 3 s on this 2-core machine (6 micro-batches of 16 x 256 tokens at d 256): the second-signal case sends
# its signals 0.5-0.7 s into the first step.
long=(--set model.d_model=256 --set model.n_heads=4 --set model.ffn_hidden=704 --set model.seq_len=256
      --set train.micro_batch=16 --set train.micro_batches=6 --set train.steps=1000 --set train.eval_every=0
      --set train.diag_every=0)
start_long() {  # start_long RUN_DIR LOG: starts a long run in the background ($pid), returns once it is training
  "$bin" train "${long[@]}" --out "$1" >"$2" 2>&1 &
  pid=$!
  for _ in $(seq 300); do grep -q "parameters" "$2" && break; sleep 0.1; done
  sleep 0.5
}
# One SIGTERM after the first step: the message states the wait (the last step's time), the step finishes, then a
# checkpoint and stopped.json naming it; exit 0.
start_long "$tmp/term" "$tmp/term.log"
for _ in $(seq 300); do [ -s "$tmp/term/metrics.jsonl" ] && break; sleep 0.1; done
kill -TERM "$pid"
wait "$pid"
rc=$?
check sigterm-states-wait "$(grep -Eq "stopping after the current step \(the last one took [0-9]+ ms\), then a checkpoint" \
  "$tmp/term.log"; echo $?)" "no message stating the wait: $(tail -3 "$tmp/term.log")"
python3 - "$tmp/term" <<'PY'
import json, os, sys
run = sys.argv[1]
stopped = json.load(open(os.path.join(run, "stopped.json")))
steps = sorted(os.listdir(os.path.join(run, "checkpoints")))
assert stopped["checkpoint"].endswith(steps[-1]), (stopped, steps)
assert stopped["step"] == int(steps[-1].split("_")[1]) >= 1 and stopped["steps"] == 1000, stopped
PY
check sigterm-clean-stop "$(( rc != 0 || $? != 0 ))" "exit $rc; stopped.json missing or not naming the checkpoint"
# Resuming removes the marker.
expect resume-clears-marker 0 "resumed at step" -- "$bin" train --resume "$tmp/term" --set train.steps=1 \
  --set train.warmup=0
check resume-removed-marker "$([ ! -e "$tmp/term/stopped.json" ]; echo $?)" "stopped.json survived a resume"
# A second signal during the long step ends the process at once, by that signal.
start_long "$tmp/twice" "$tmp/twice.log"
kill -TERM "$pid"
sleep 0.2
t0=$(date +%s%N)
kill -TERM "$pid"
wait "$pid"
rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check second-signal-exits "$(( rc != 143 || ms > 2000 ))" "exit $rc after $ms ms (wanted 143 within 2 s)"
check second-signal-message "$(grep -q "stopping after the first step" "$tmp/twice.log" &&
  grep -q "second signal: exiting now" "$tmp/twice.log"; echo $?)" "no messages: $(tail -3 "$tmp/twice.log")"
check second-signal-no-marker "$([ ! -e "$tmp/twice/stopped.json" ]; echo $?)" "stopped.json after a forced exit"

echo "bad inputs: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
