#!/usr/bin/env bash
# One prepared command for a short GPU slot: runs prebuilt binaries (no build on the GPU machine): the [cuda] kernel
# tests, the whole-step and trainer GPU-vs-CPU tests, NCCL, the kernel bandwidth benchmark, a GPU training smoke run
# with eval/sample of its checkpoint, two pipeline ranks on the GPU against the CPU, and the gpt2-124m step benchmarks
# (residual and mhc, fp32 and tf32 matmuls); writes one JSON report.
#   here (no GPU):      scripts/gpu-check.sh --prepare      builds for sm_90 (+PTX) with nvcc and packs the binaries
#                                                           and the libraries they load into .gpu-pack/ (< 64 MiB)
#                       scripts/gpu-check.sh --self-check   ldd and the CPU-only paths of the packed binaries
#   on the GPU machine: scripts/gpu-check.sh [REPORT_DIR]   (device tool: run with carry [".gpu-pack"])
# The GPU machine has CUDA 13 (cuBLASLt, and NCCL in its Python wheel) and Open MPI; a library the binaries need that
# it lacks is taken from the pack (the report names them). MHC_GPU_CHECK_ONLY=kernel_tests,step_tests
# (comma-separated step names, see below) runs only those steps, for a short slot or a rerun; the others report rc -2.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pack=$root/.gpu-pack
binaries=(app/mhc-train tests/cuda/mhc_cuda_tests tests/cuda/mhc_cuda_bench)
# Libraries never packed: the C runtime and the CUDA driver (the machine's own must be used), and the CUDA libraries
# too large to carry (cuBLASLt, NCCL: the GPU machine has them).
system_libs='^(linux-vdso|ld-linux|libc\.|libm\.|libdl\.|libpthread\.|librt\.|libgcc_s\.|libstdc\+\+\.|libcuda\.|libcublas|libnccl)'

if [ "${1:-}" = "--prepare" ]; then
  source "$root/scripts/lib/setup.sh"
  mhc_install_packages
  build=${MHC_BUILD:-$root/build}
  export PATH="/usr/local/cuda/bin:$PATH"
  command -v nvcc >/dev/null || { echo "error: --prepare needs nvcc (the CUDA toolkit)" >&2; exit 1; }
  mhc_configure_and_build -DMHC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="90-real;90-virtual" || exit 1
  cmake --build "$build" -j2 --target mhc_cuda_bench || exit 1
  rm -rf "$pack" && mkdir -p "$pack/bin" "$pack/lib"
  for b in "${binaries[@]}"; do
    strip --strip-debug -o "$pack/bin/$(basename "$b")" "$build/$b" || exit 1
  done
  for lib in $(ldd "$pack"/bin/* | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u); do
    name=$(basename "$lib")
    [[ $name =~ $system_libs ]] || cp -L "$lib" "$pack/lib/$name"
  done
  # Compressed: OpenBLAS alone is 36 MB, and the device tool carries 64 MiB in all.
  tar -C "$pack" -cJf "$pack/lib.tar.xz" lib && rm -rf "$pack/lib"
  git -C "$root" rev-parse HEAD >"$pack/commit" 2>/dev/null
  size=$(du -sm "$pack" | cut -f1)
  echo "packed $pack: ${size} MiB, $(tar -tJf "$pack/lib.tar.xz" | grep -c '\.so') libraries, commit $(cat "$pack/commit" 2>/dev/null)"
  [ "$size" -lt 64 ] || { echo "error: the pack is ${size} MiB, over the device tool's 64 MiB" >&2; exit 1; }
  echo "run it: run(carry=[\".gpu-pack\"], command=\"scripts/gpu-check.sh \$OUT\", timeout_s=420)"
  exit 0
fi

[ -x "$pack/bin/mhc-train" ] || { echo "error: no $pack: run scripts/gpu-check.sh --prepare first" >&2; exit 1; }
export PATH="/usr/local/cuda/bin:$PATH" MHC_CONFIG_DIR=$root/configs
# Library folders of the machine: the CUDA toolkit's, then the Python wheels' (cuBLASLt, the CUDA runtime, NCCL).
libdirs=""
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib; do [ -d "$d" ] && libdirs="$libdirs:$d"; done
for m in cublas cuda_runtime nccl; do
  d=$(python3 -c "import nvidia.$m as m, os; print(os.path.join(list(m.__path__)[0], 'lib'))" 2>/dev/null) &&
    [ -d "$d" ] && libdirs="$libdirs:$d"
done
export LD_LIBRARY_PATH="${libdirs#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# Whatever is still missing comes from the pack (only those libraries: the machine's own come first).
fallback=$root/runs/gpu-check-libs
packlib=$root/runs/gpu-check-pack-lib
rm -rf "$fallback" "$packlib" && mkdir -p "$fallback" "$packlib"
tar -C "$packlib" -xJf "$pack/lib.tar.xz" || { echo "error: cannot unpack $pack/lib.tar.xz" >&2; exit 1; }
from_pack=$(ldd "$pack"/bin/* | awk '/not found/ {print $1}' | sort -u)
for name in $from_pack; do [ -f "$packlib/lib/$name" ] && ln -s "$packlib/lib/$name" "$fallback/$name"; done
export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$fallback"
missing=$(ldd "$pack"/bin/* | awk '/not found/ {print $1}' | sort -u | tr '\n' ' ')

if [ "${1:-}" = "--self-check" ]; then
  # Here, without a GPU: every library resolves and the CPU-only paths run. This machine has every library itself,
  # so first the pack's own copies are put ahead of the system's: each packed library must then resolve into the
  # pack (as on a GPU machine that lacks it), and the CPU-only paths below run with them.
  export LD_LIBRARY_PATH="$packlib/lib:$LD_LIBRARY_PATH"
  not_packed=$(ldd "$pack"/bin/* | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u |
    while read -r name path; do
      [[ $name =~ $system_libs ]] || [[ $path == "$packlib/lib/"* ]] || echo "$name ($path)"
    done)
  echo "libraries that resolve outside the pack (beyond the C runtime, CUDA driver, cuBLAS, NCCL): ${not_packed:-none}"
  echo "libraries from the pack: $(ldd "$pack"/bin/* | grep -c "$packlib/lib/") resolutions; missing: ${missing:-none}"
  bad=0
  [ -z "$not_packed" ] && [ -z "$missing" ] || bad=1
  "$pack/bin/mhc-train" --version && "$pack/bin/mhc-train" plan --config "$root/configs/tiny-mhc.json" >/dev/null &&
    echo "mhc-train plan: ok" || bad=1
  "$pack/bin/mhc-train" train --config "$root/configs/tiny-mhc.json" --set train.steps=2 --set train.eval_every=2 \
    --out "$(mktemp -d)/run" >/dev/null && echo "mhc-train train (cpu, 2 steps): ok" || bad=1
  "$pack/bin/mhc_cuda_tests"
  rc=$?
  echo "mhc_cuda_tests without a GPU: exit $rc (77 = skipped)"
  [ $rc -eq 77 ] || bad=1
  "$pack/bin/mhc-train" train --config "$root/configs/tiny-mhc.json" --set parallel.device=cuda \
    --out "$(mktemp -d)/run" 2>&1 | tail -1
  rc=${PIPESTATUS[0]}
  echo "train on cuda without a GPU: exit $rc (1 expected)"
  [ $rc -eq 1 ] || bad=1
  [ $bad -eq 0 ] && echo "self-check: ok" || echo "self-check: FAILED"
  exit $bad
fi

# REPORT_DIR gets report.json and gpu-check.log only (the device tool returns at most 8 files); each step's output,
# the benchmark JSON and the run directories go to a work directory, and every step's output into the log.
report_dir=${1:-$root/runs/gpu-check}
work=$root/runs/gpu-check-work
rm -rf "$work" && mkdir -p "$report_dir" "$work"
log=$report_dir/gpu-check.log
start=$(date +%s)
bin=$pack/bin/mhc-train
{
  echo "== commit $(cat "$pack/commit" 2>/dev/null)"
  echo "== nvidia-smi"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  echo "== libraries from the pack: ${from_pack:-none}; missing: ${missing:-none}"
  ldd "$pack/bin/mhc_cuda_tests"
} >"$log" 2>&1
libs_rc=0
[ -z "$missing" ] || libs_rc=1

# step NAME TIMEOUT COMMAND...: runs a step when every library resolved (and MHC_GPU_CHECK_ONLY names it, if set), output
# to NAME.txt and the log; rc in rc_NAME.
step() {
  local name=$1 limit=$2; shift 2
  if [ $libs_rc -ne 0 ]; then eval "rc_$name=-1"; return; fi  # a library is missing
  if [ -n "${MHC_GPU_CHECK_ONLY:-}" ] && [[ ",$MHC_GPU_CHECK_ONLY," != *",$name,"* ]]; then eval "rc_$name=-2"; return; fi
  echo "== $name: $*" >>"$log"
  timeout "$limit" "$@" >"$work/$name.txt" 2>&1
  eval "rc_$name=$?"
  cat "$work/$name.txt" >>"$log"
}
# Kernel tests first (seconds), then the whole-step tests (the CPU oracle runs gpt2-124m too), then NCCL on its own
# (its bootstrap could hang on a machine without network interfaces: it must not take the other results with it).
step kernel_tests 180 "$pack/bin/mhc_cuda_tests" -r compact "~[step]~[nccl]"
step step_tests 240 "$pack/bin/mhc_cuda_tests" -r compact "[step]"
NCCL_DEBUG=WARN step nccl_tests 90 "$pack/bin/mhc_cuda_tests" -r compact "[nccl]"
step kernel_bench 120 "$pack/bin/mhc_cuda_bench" "$work/bench.json"
step train_smoke 90 "$bin" train --config "$root/configs/tiny-mhc.json" --set parallel.device=cuda \
  --set train.steps=30 --set train.eval_every=10 --set train.diag_every=10 --set checkpoint.every=15 \
  --out "$work/tiny-mhc-run"
# The smoke run's checkpoint evaluated on the GPU (its config's device) and on the CPU, and sampled on the GPU.
step eval_cuda 60 "$bin" eval --checkpoint "$work/tiny-mhc-run"
step eval_cpu 60 "$bin" eval --checkpoint "$work/tiny-mhc-run" --set parallel.device=cpu
step sample_cuda 60 "$bin" sample --checkpoint "$work/tiny-mhc-run" --prompt "The " --tokens 40
# Two pipeline ranks sharing the GPU (stage boundaries staged through host memory over MPI) against the same run on
# the CPU; the report compares their loss curves.
for dev in cpu cuda; do
  step "pp2_$dev" 120 mpirun --allow-run-as-root --oversubscribe -np 2 "$bin" train \
    --config "$root/configs/pp2-dualpipev-mhc.json" --set parallel.device=$dev --set train.steps=8 --set train.warmup=2 \
    --set train.eval_every=4 --set train.diag_every=4 --set train.log_every=1 --out "$work/pp2-$dev"
done
for p in fp32 tf32; do
  for r in residual mhc; do
    step "step_${r}_$p" 120 "$bin" bench step --config "$root/configs/gpt2-124m-$r.json" --set data.source=synthetic \
      --set data.path= --set parallel.matmul=$p --set train.micro_batch=8 --set train.micro_batches=1 --steps 5
  done
done

gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
python3 - "$work" "$report_dir" "$gpu" "$libs_rc" "$(( $(date +%s) - start ))" \
  "${rc_kernel_tests:--1}" "${rc_step_tests:--1}" "${rc_nccl_tests:--1}" "${rc_kernel_bench:--1}" \
  "${rc_train_smoke:--1}" "${rc_eval_cuda:--1}" "${rc_eval_cpu:--1}" "${rc_sample_cuda:--1}" "${rc_pp2_cpu:--1}" \
  "${rc_pp2_cuda:--1}" \
  "${rc_step_residual_fp32:--1}" "${rc_step_mhc_fp32:--1}" "${rc_step_residual_tf32:--1}" "${rc_step_mhc_tf32:--1}" \
  <<'PY'
import json, os, re, sys
d, out, gpu, libs_rc, secs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
names = ["kernel_tests", "step_tests", "nccl_tests", "kernel_bench", "train_smoke", "eval_cuda", "eval_cpu",
         "sample_cuda", "pp2_cpu", "pp2_cuda", "step_residual_fp32", "step_mhc_fp32", "step_residual_tf32",
         "step_mhc_tf32"]
report = {"gpu": gpu, "libs_rc": libs_rc, "seconds": secs, "rc": dict(zip(names, map(int, sys.argv[6:])))}
def text(name):
    p = os.path.join(d, name + ".txt")
    return open(p).read() if os.path.exists(p) else ""
for t in ["kernel_tests", "step_tests", "nccl_tests"]:
    lines = [l for l in text(t).splitlines() if re.match(r"^(Passed|Failed)|test cases", l)]
    report[t] = lines[-1] if lines else None
def load(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError) as e:
        return "unreadable: %s" % e
report["kernel_bench"] = load(os.path.join(d, "bench.json"))
def losses(run):
    try:
        return [json.loads(l)["loss"] for l in open(os.path.join(d, run, "metrics.jsonl"))]
    except (OSError, ValueError, KeyError):
        return []
def first_json(name):
    m = re.search(r"\{.*\}", text(name), re.S)
    try:
        return json.loads(m.group(0)) if m else None
    except ValueError:
        return None
ev_gpu, ev_cpu = first_json("eval_cuda"), first_json("eval_cpu")
report["eval_val_loss_rel_diff"] = (abs(ev_gpu["val_loss"] - ev_cpu["val_loss"]) / abs(ev_cpu["val_loss"])
                                    if ev_gpu and ev_cpu else None)
report["sample"] = text("sample_cuda")[-200:]
cpu, gpu_l = losses("pp2-cpu"), losses("pp2-cuda")
report["pp2_loss_max_rel_diff"] = (max(abs(g - c) / abs(c) for g, c in zip(gpu_l, cpu))
                                   if cpu and len(cpu) == len(gpu_l) else None)
# MFU against the H100/H200 SXM dense bf16 tensor peak (989.4 TFLOP/s, llm.c's reference); the fp32 runs also
# against the fp32 CUDA-core peak (66.9 TFLOP/s), the tf32 runs against the dense TF32 peak (494.7 TFLOP/s).
peaks = {"fp32": 66.9e3, "tf32": 494.7e3}
report["step"] = {}
for p, peak in peaks.items():
    steps = {}
    for r in ["residual", "mhc"]:
        steps[r] = first_json("step_%s_%s" % (r, p))
    summary = {"runs": steps}
    if all(isinstance(s, dict) for s in steps.values()):
        res, mhc = steps["residual"], steps["mhc"]
        summary["mhc_over_residual_step"] = mhc["step_ms_median"] / res["step_ms_median"]
        summary["residual_tok_s"] = res["tok_s"]
        summary["mhc_tok_s"] = mhc["tok_s"]
        summary["residual_mfu_bf16_peak"] = res["achieved_gflops"] / 989.4e3
        summary["residual_fraction_of_%s_peak" % p] = res["achieved_gflops"] / peak
    report["step"][p] = summary
json.dump(report, open(os.path.join(out, "report.json"), "w"), indent=2)
PY
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); r.pop('kernel_bench',None); [s.pop('runs',None) for s in r.get('step',{}).values()]; print(json.dumps(r, indent=1))" "$report_dir/report.json" | head -60
tail -30 "$log"
# Exit 0 when every library resolved and the tests that ran passed (-2: left out by MHC_GPU_CHECK_ONLY).
passed() { [ "$1" -eq 0 ] || [ "$1" -eq -2 ]; }
[ $libs_rc -eq 0 ] && passed "${rc_kernel_tests:-1}" && passed "${rc_step_tests:-1}" && passed "${rc_nccl_tests:-1}"
