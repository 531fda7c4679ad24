#!/usr/bin/env bash
# One prepared command for a short GPU slot: builds mhc-train, the [cuda] tests and the mHC kernel benchmark for
# sm_90, runs the [cuda] kernel tests, the whole-step GPU-vs-CPU tests, the kernel bandwidth benchmark, a GPU training
# smoke run and the gpt2-124m step benchmarks (residual and mhc, fp32 and tf32 matmuls), and writes one JSON report.
# The GPU machine has nvcc, CMake, ninja, OpenBLAS and Open MPI (seen 2026-11-28) but not Catch2, nlohmann_json,
# CLI11 or spdlog, so:
#   here (no GPU):      scripts/gpu-check.sh --prepare      copies the header-only dependencies to .gpu-deps/
#   on the GPU machine: scripts/gpu-check.sh [REPORT_DIR]   (device tool: run with carry [".gpu-deps"])
# MHC_GPU_CHECK_ONLY=kernel_tests,step_tests (comma-separated step names, see below) runs only those steps, for a
# short slot or a rerun; the others report rc -2.
# spdlog and fmt are used header-only there; NCCL comes from the machine's CUDA install or its Python wheel.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
deps=$root/.gpu-deps

if [ "${1:-}" = "--prepare" ]; then
  rm -rf "$deps" && mkdir -p "$deps/include" "$deps/lib/cmake" "$deps/share/cmake"
  copy() { cp -r "$1" "$2" || { echo "error: $1 missing (run scripts/test.sh once to install the packages)" >&2; exit 1; }; }
  copy /usr/include/catch2 "$deps/include/"
  copy /usr/lib/cmake/Catch2 "$deps/lib/cmake/"
  copy /usr/lib/libCatch2WithMain.a "$deps/lib/"  # the exported CMake package references it
  # Header-only packages whose CMake files find the headers relative to themselves (three levels up).
  copy /usr/include/nlohmann "$deps/include/"
  copy /usr/share/cmake/nlohmann_json "$deps/share/cmake/"
  copy /usr/include/CLI "$deps/include/"
  copy /usr/share/cmake/CLI11 "$deps/share/cmake/"
  # spdlog and fmt header-only: Debian's spdlog package points at its shared library, so a small package file
  # declares spdlog::spdlog as headers plus the header-only switches instead.
  copy /usr/include/spdlog "$deps/include/"
  copy /usr/include/fmt "$deps/include/"
  mkdir -p "$deps/lib/cmake/spdlog"
  cat >"$deps/lib/cmake/spdlog/spdlogConfig.cmake" <<'CMAKE'
# Header-only spdlog with header-only fmt (written by scripts/gpu-check.sh --prepare for the GPU machine).
get_filename_component(_mhc_gpu_deps "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
if(NOT TARGET spdlog::spdlog)
  add_library(spdlog::spdlog INTERFACE IMPORTED)
  set_target_properties(spdlog::spdlog PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${_mhc_gpu_deps}/include"
    INTERFACE_COMPILE_DEFINITIONS "SPDLOG_HEADER_ONLY;SPDLOG_FMT_EXTERNAL;FMT_HEADER_ONLY")
endif()
set(spdlog_FOUND TRUE)
CMAKE
  echo "prepared $deps ($(du -sh "$deps" | cut -f1)); carry it: run(carry=[\".gpu-deps\"], command=\"scripts/gpu-check.sh \$OUT\")"
  exit 0
fi

# REPORT_DIR gets report.json and gpu-check.log only (the device tool returns at most 8 files); each step's output,
# the benchmark JSON and the run directories go to a work directory, and every step's output into the log.
report_dir=${1:-$root/runs/gpu-check}
work=$root/runs/gpu-check-work
rm -rf "$work" && mkdir -p "$report_dir" "$work"
build=$root/build-gpu
log=$report_dir/gpu-check.log
export PATH="/usr/local/cuda/bin:$PATH"
start=$(date +%s)
# NCCL from the Python wheel (nvidia-nccl-cu13), if the machine has it and none is installed system-wide.
nccl_root=$(python3 -c "import nvidia.nccl as m; print(list(m.__path__)[0])" 2>/dev/null || true)

{
  echo "== nvidia-smi"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  echo "== configure (NCCL_ROOT=${nccl_root:-none})"
  NCCL_ROOT=$nccl_root cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMHC_CUDA=ON \
    -DCMAKE_PREFIX_PATH="$deps" -DCMAKE_CUDA_ARCHITECTURES="90-real;90-virtual"
  echo "== build"
  cmake --build "$build" -j16 --target mhc-train mhc_cuda_tests mhc_cuda_bench
} >"$log" 2>&1
build_rc=$?
bin=$build/app/mhc-train
[ -n "$nccl_root" ] && export LD_LIBRARY_PATH="$nccl_root/lib:${LD_LIBRARY_PATH:-}"

# step NAME TIMEOUT COMMAND...: runs a step when the build passed (and MHC_GPU_CHECK_ONLY names it, if set), output
# to NAME.txt and the log; rc in rc_NAME.
step() {
  local name=$1 limit=$2; shift 2
  if [ $build_rc -ne 0 ]; then eval "rc_$name=-1"; return; fi
  if [ -n "${MHC_GPU_CHECK_ONLY:-}" ] && [[ ",$MHC_GPU_CHECK_ONLY," != *",$name,"* ]]; then eval "rc_$name=-2"; return; fi
  echo "== $name: $*" >>"$log"
  timeout "$limit" "$@" >"$work/$name.txt" 2>&1
  eval "rc_$name=$?"
  cat "$work/$name.txt" >>"$log"
}
# Kernel tests first (seconds), then the whole-step tests (the CPU oracle runs gpt2-124m too), then NCCL on its own
# (its bootstrap could hang on a machine without network interfaces: it must not take the other results with it).
step kernel_tests 180 "$build/tests/cuda/mhc_cuda_tests" -r compact "~[step]~[nccl]"
step step_tests 240 "$build/tests/cuda/mhc_cuda_tests" -r compact "[step]"
NCCL_DEBUG=WARN step nccl_tests 90 "$build/tests/cuda/mhc_cuda_tests" -r compact "[nccl]"
step kernel_bench 120 "$build/tests/cuda/mhc_cuda_bench" "$work/bench.json"
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
python3 - "$work" "$report_dir" "$gpu" "$build_rc" "$(( $(date +%s) - start ))" \
  "${rc_kernel_tests:--1}" "${rc_step_tests:--1}" "${rc_nccl_tests:--1}" "${rc_kernel_bench:--1}" \
  "${rc_train_smoke:--1}" "${rc_eval_cuda:--1}" "${rc_eval_cpu:--1}" "${rc_sample_cuda:--1}" "${rc_pp2_cpu:--1}" \
  "${rc_pp2_cuda:--1}" \
  "${rc_step_residual_fp32:--1}" "${rc_step_mhc_fp32:--1}" "${rc_step_residual_tf32:--1}" "${rc_step_mhc_tf32:--1}" \
  <<'PY'
import json, os, re, sys
d, out, gpu, build_rc, secs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
names = ["kernel_tests", "step_tests", "nccl_tests", "kernel_bench", "train_smoke", "eval_cuda", "eval_cpu",
         "sample_cuda", "pp2_cpu", "pp2_cuda", "step_residual_fp32", "step_mhc_fp32", "step_residual_tf32",
         "step_mhc_tf32"]
report = {"gpu": gpu, "build_rc": build_rc, "seconds": secs, "rc": dict(zip(names, map(int, sys.argv[6:])))}
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
# Exit 0 when the build passed and the tests that ran passed (-2: left out by MHC_GPU_CHECK_ONLY).
passed() { [ "$1" -eq 0 ] || [ "$1" -eq -2 ]; }
[ $build_rc -eq 0 ] && passed "${rc_kernel_tests:-1}" && passed "${rc_step_tests:-1}" && passed "${rc_nccl_tests:-1}"
