#!/usr/bin/env python3
"""Side-by-side training-step benchmark of mhc-train against PyTorch: `mhc-train bench step` and
scripts/bench_torch.py on the same configs, interleaved, printed as one markdown table.

For each of --rounds rounds, for each d_model of --d-models and each arm (residual, hc, mhc) it runs both tools on
configs/shakespeare-char-<arm>.json (--config-pattern) with the --set overrides (default: the issue's headline shape,
model.n_blocks=6 and model.seq_len=256) and model.d_model, model.n_heads (the config's head size kept) and
model.ffn_hidden (the config's ffn_hidden / d_model ratio) for that d_model, alternating which tool goes first, both
with --threads threads (OMP_NUM_THREADS for both, torch.set_num_threads for PyTorch). Each run reports the median of
--steps timed steps after one warm-up; the table shows, per config and arm, the median over the rounds.
Needs the built mhc-train and a python3 with torch and numpy for bench_torch.py (--python, default: this one).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BENCH_TORCH = os.path.join(HERE, "bench_torch.py")
sys.path.insert(0, HERE)
import bench_torch  # noqa: E402  (its config reader; it imports without torch)

HEADLINE_SETS = ["model.n_blocks=6", "model.seq_len=256"]
ARMS = ("residual", "hc", "mhc")


def model_sets(config_path, sets, d_model):
    """The --set overrides that give the config d_model with its head size and its ffn_hidden / d_model ratio."""
    m = bench_torch.load_config_file(config_path, sets)["model"]
    head = m["d_model"] // m["n_heads"]
    if d_model % head:
        raise bench_torch.ConfigError(f"d_model {d_model} is not a multiple of the head size {head} of {config_path}")
    ffn = round(d_model * m["ffn_hidden"] / m["d_model"])
    return [f"model.d_model={d_model}", f"model.n_heads={d_model // head}", f"model.ffn_hidden={ffn}"]


def run_json(cmd, env):
    """The JSON object a benchmark command prints on stdout; exits with its stderr when it fails."""
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"bench_vs_torch.py: {' '.join(cmd)} failed (exit {r.returncode}):\n{r.stderr.strip()[-3000:]}")
    return json.loads(r.stdout)


def commands(args, config_path, sets):
    """{tool: command} of one config for both tools."""
    overrides = [word for item in sets for word in ("--set", item)]
    steps = ["--steps", str(args.steps)]
    return {"mhc-train": [args.mhc_train, "bench", "step", "--config", config_path, *overrides, *steps],
            "pytorch": [args.python, BENCH_TORCH, "--config", config_path, *overrides, *steps,
                        "--threads", str(args.threads), *(["--compile"] if args.compile else [])]}


def check_same_shape(a, b, where):
    for key in ("residual", "n_streams", "d_model", "tokens_per_step"):
        if a[key] != b[key]:
            sys.exit(f"bench_vs_torch.py: {where}: mhc-train reports {key} {a[key]}, PyTorch {b[key]}")


def table(args, sets, runs):
    """The markdown report of runs {(d_model, arm): {tool: [result JSON, one per round]}}."""
    first = runs[next(iter(runs))]
    mhc0, torch0 = first["mhc-train"][0], first["pytorch"][0]
    gemm = mhc0["cpu_gemm_library"]
    lines = [f"CPU: {gemm['cpu']} ({torch0['cpu']}); threads {args.threads} for both "
             f"(OMP_NUM_THREADS; PyTorch reports {torch0['threads']})",
             f"mhc-train: matmul {mhc0['matmul']} through {gemm['library']} (kernel {gemm['kernel']}, "
             f"{gemm['threading']}); PyTorch {torch0['torch']}, {'torch.compile' if args.compile else 'eager'}",
             f"configs: {args.config_pattern} --set {' --set '.join(sets)}; micro_batch {torch0['micro_batch']} x "
             f"micro_batches {torch0['micro_batches']}, seq_len {torch0['seq_len']}, n_blocks {torch0['n_blocks']}",
             f"each cell: median over {args.rounds} rounds of the median of {args.steps} timed steps (after one "
             f"warm-up); the two tools alternate which goes first", "",
             "| d_model | heads | ffn | arm | mhc-train ms | PyTorch ms | mhc-train tok/s | PyTorch tok/s "
             "| mhc-train / PyTorch tok/s | step / residual, mhc-train | step / residual, PyTorch |",
             "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for (d_model, arm), by_tool in runs.items():
        ms = {tool: statistics.median(r["step_ms_median"] for r in results) for tool, results in by_tool.items()}
        tokens = by_tool["pytorch"][0]["tokens_per_step"]
        tok_s = {tool: tokens / v * 1e3 for tool, v in ms.items()}
        base = runs.get((d_model, "residual"))
        ratio = {tool: ms[tool] / statistics.median(r["step_ms_median"] for r in base[tool]) if base else None
                 for tool in ms}
        t0 = by_tool["pytorch"][0]
        cells = [str(d_model), str(t0["n_heads"]), str(t0["ffn_hidden"]), arm, f"{ms['mhc-train']:.1f}",
                 f"{ms['pytorch']:.1f}", f"{tok_s['mhc-train']:.0f}", f"{tok_s['pytorch']:.0f}",
                 f"{tok_s['mhc-train'] / tok_s['pytorch']:.2f}"]
        cells += ["-" if ratio[tool] is None else f"{ratio[tool]:.2f}" for tool in ("mhc-train", "pytorch")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every config and arm")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per run, after one warm-up")
    parser.add_argument("--threads", type=int, default=2, help="threads of both tools")
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS), help="residual types to run")
    parser.add_argument("--d-models", nargs="+", type=int, default=[128, 256], help="model.d_model values")
    parser.add_argument("--config-pattern", default="configs/shakespeare-char-{arm}.json",
                        help="config of each arm, relative to the repository root; {arm} is replaced")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help=f"override for both tools, repeatable (default: {' '.join(HEADLINE_SETS)}); "
                             "model.d_model, n_heads and ffn_hidden are set per --d-models")
    parser.add_argument("--compile", action="store_true", help="run PyTorch under torch.compile")
    parser.add_argument("--mhc-train", default=bench_torch.DEFAULT_MHC_TRAIN, help="the mhc-train binary")
    parser.add_argument("--python", default=sys.executable, help="python3 with torch and numpy for bench_torch.py")
    parser.add_argument("--json-out", metavar="FILE", help="also write every run's JSON output to FILE")
    args = parser.parse_args()
    if min(args.rounds, args.steps, args.threads) < 1:
        parser.error("--rounds, --steps and --threads must be >= 1")
    if not os.access(args.mhc_train, os.X_OK):
        parser.error(f"--mhc-train {args.mhc_train}: not an executable (build it first)")
    sets = args.set if args.set is not None else HEADLINE_SETS
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    try:
        plans = {(d, arm): commands(args, args.config_pattern.format(arm=arm),
                                    sets + model_sets(os.path.join(ROOT, args.config_pattern.format(arm=arm)), sets, d))
                 for d in args.d_models for arm in args.arms}
    except (bench_torch.ConfigError, OSError, json.JSONDecodeError) as e:
        sys.exit(f"bench_vs_torch.py: {e}")
    runs = {key: {"mhc-train": [], "pytorch": []} for key in plans}
    order = 0
    for _ in range(args.rounds):
        for key, cmds in plans.items():
            tools = ["mhc-train", "pytorch"] if order % 2 == 0 else ["pytorch", "mhc-train"]
            order += 1
            for tool in tools:
                runs[key][tool].append(run_json(cmds[tool], env))
            check_same_shape(runs[key]["mhc-train"][-1], runs[key]["pytorch"][-1], f"d_model {key[0]} {key[1]}")
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump([{"d_model": d, "arm": arm, **by_tool} for (d, arm), by_tool in runs.items()], f, indent=2)
    print(table(args, sets, runs))


if __name__ == "__main__":
    main()
