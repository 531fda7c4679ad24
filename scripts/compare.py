#!/usr/bin/env python3
"""Compares the mhc-train runs under a directory: curves per arm (compare.png) and tables (compare.md, stdout).

Usage: scripts/compare.py DIR [--out OUT_DIR] [--metric val_loss] [--x step|tokens|flops|time] [--smooth W]
                          [--bin MHC_TRAIN]

A run is a directory under DIR (at any depth) holding config.resolved.json and metrics.jsonl, e.g. what
scripts/sweep.sh writes. Runs are grouped into arms by residual.type (plus n_streams when one type appears with
several). The cost table gives per arm the parameters (total and non-embedding, from `mhc-train plan`), FLOPs per
token (computed here from the config, model_cost.FLOPS_FORMULA), tokens seen, step time and training time (from the
logged step_ms). The loss table gives the final value of --metric (default val_loss; when some run never logged
it, the last train loss of every run, and the table says so) as mean ± 95 % t confidence interval over the seeds,
the difference to the residual arm with its Welch confidence interval and Welch's two-sided p-value (scipy when
installed, else a built-in regularized incomplete beta), the value at equal FLOPs and at equal training time
(interpolated on the curves), and the composite H_res gains (n/a for residual). Fewer than 3 seeds get a warning.
The figure: EMA-smoothed train loss, the metric with its 95 % band, composite and per-layer H_res gains, gradient
norm and learning rate against --x. Needs numpy and matplotlib (Debian: python3-numpy python3-matplotlib); a python3
without them hands the run over to /usr/bin/python3 when that one has them (scripts/lib/python_deps.py).
"""
import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import compare_plot  # noqa: E402  (matplotlib is imported where used, after python_deps.require)
import compare_stats  # noqa: E402
import model_cost  # noqa: E402
import python_deps  # noqa: E402

DEFAULT_BIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "app", "mhc-train")

TYPE_ORDER = {"residual": 0, "hc": 1, "mhc": 2}


class CompareError(Exception):
    pass


def read_json_lines(path):
    """The records of a metrics.jsonl file; errors name the file and the line."""
    records = []
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as e:
                    raise CompareError(f"{path}:{number}: not valid JSON ({e})") from None
                if not isinstance(record, dict) or not isinstance(record.get("step"), int):
                    raise CompareError(f"{path}:{number}: expected an object with an integer 'step'")
                records.append(record)
    except OSError as e:
        raise CompareError(f"cannot read {path}: {e.strerror}") from None
    if not records:
        raise CompareError(f"{path}: no metrics (empty file)")
    return records


def read_config(path):
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except OSError as e:
        raise CompareError(f"cannot read {path}: {e.strerror}") from None
    except ValueError as e:
        raise CompareError(f"{path}: not valid JSON ({e})") from None
    residual = config.get("residual") if isinstance(config, dict) else None
    if not isinstance(residual, dict) or "type" not in residual:
        raise CompareError(f"{path}: no residual.type")
    return config


def find_runs(root):
    runs = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        if "metrics.jsonl" in filenames and "config.resolved.json" in filenames:
            config = read_config(os.path.join(dirpath, "config.resolved.json"))
            records = read_json_lines(os.path.join(dirpath, "metrics.jsonl"))
            runs.append({"name": os.path.relpath(dirpath, root), "path": dirpath, "config": config,
                         "records": records})
    if not runs:
        raise CompareError(f"no runs found under {root} (a run directory has metrics.jsonl and config.resolved.json)")
    return runs


def assign_arms(runs):
    """Sets run['arm'] to the residual type, plus the stream count when a type appears with several."""
    streams = {}
    for run in runs:
        residual = run["config"]["residual"]
        streams.setdefault(residual["type"], set()).add(residual.get("n_streams"))
    for run in runs:
        residual = run["config"]["residual"]
        kind = residual["type"]
        run["arm"] = f"{kind} n={residual.get('n_streams')}" if len(streams[kind]) > 1 else kind
        run["arm_key"] = (TYPE_ORDER.get(kind, 9), kind, residual.get("n_streams") or 0)


def flatten(config, prefix=""):
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(flatten(value, prefix + key + "."))
        else:
            flat[prefix + key] = value
    return flat


def differing_keys(runs):
    """Config keys, other than residual.* and train.seed, that differ between runs (a comparison should have none)."""
    flats = [flatten(run["config"]) for run in runs]
    keys = sorted(set().union(*flats))
    return [k for k in keys if not k.startswith("residual.") and k != "train.seed"
            and len({json.dumps(f.get(k), sort_keys=True) for f in flats}) > 1]


def number(value):
    """A metric value as float; JSON null (the trainer's non-finite) is NaN."""
    return float("nan") if value is None else float(value)


def last_value(records, key):
    for record in reversed(records):
        if key in record and not record.get("skipped"):
            return number(record[key])
    return None


def add_points(run, fpt):
    """run['points']: the run's non-skipped records, each with tokens, flops (tokens x FLOPs per token) and time, the
    training time so far estimated from the logged step_ms (each logged step stands for the steps since the previous
    log; evaluation, diagnostics and checkpoints excluded); run['time'] is the estimate at the last record."""
    elapsed, previous, points = 0.0, 0, []
    for record in run["records"]:
        if "step_ms" in record:
            elapsed += (record["step"] - previous) * number(record["step_ms"]) / 1e3
        previous = record["step"]
        if not record.get("skipped"):
            tokens = record.get("tokens")
            points.append(dict(record, tokens=tokens, time=elapsed,
                               flops=None if tokens is None or fpt is None else tokens * fpt))
    run["points"], run["time"] = points, elapsed


def value_at(run, key, x_key, budget):
    """The run's `key` at x = budget, interpolated linearly between the logged values; None outside their range."""
    pts = [p for p in run["points"] if p.get(key) is not None and p.get(x_key) is not None]
    return compare_stats.interpolate_at([p[x_key] for p in pts], [number(p[key]) for p in pts], budget)


def last_x(run, key, x_key):
    return next((p[x_key] for p in reversed(run["points"]) if p.get(key) is not None), None)


# ---- the tables -----------------------------------------------------------------------------------------------

def arm_costs(arm_runs, binary):
    """Parameters (from plan; an error text instead when plan fails) and FLOPs per token (None when the config lacks
    a model key) of an arm's config."""
    first = arm_runs[0]
    try:
        counts = model_cost.plan_parameters(binary, os.path.join(first["path"], "config.resolved.json"))
    except model_cost.PlanError as e:
        counts = str(e)
    try:
        return counts, model_cost.flops_per_token(first["config"])
    except KeyError:
        return counts, None


def summarize(runs, metric, binary):
    """One dict per arm (residual first); returns (arms, the compared key, runs lacking the metric, baseline, budgets)."""
    lacking = [run["name"] for run in runs if last_value(run["records"], metric) is None]
    key = metric if not lacking else "loss"
    by_arm = {}
    for run in sorted(runs, key=lambda r: (r["arm_key"], r["name"])):
        by_arm.setdefault(run["arm"], []).append(run)
    arms = []
    for name, arm_runs in by_arm.items():
        counts, fpt = arm_costs(arm_runs, binary)
        for run in arm_runs:
            add_points(run, fpt)
            run["final"] = last_value(run["records"], key)
            if run["final"] is None:
                raise CompareError(f"{run['name']}/metrics.jsonl: no '{key}' in any record")
        kind = arm_runs[0]["config"]["residual"]["type"]
        step_ms = sorted(number(rec["step_ms"]) for r in arm_runs for rec in r["records"] if "step_ms" in rec)
        arms.append({"arm": name, "kind": kind, "runs": arm_runs, "has_h_res": kind != "residual",
                     "counts": counts, "fpt": fpt,
                     "tokens": sum(r["points"][-1]["tokens"] or 0 for r in arm_runs) / len(arm_runs)
                     if all(r["points"] for r in arm_runs) else None,
                     "step_ms": step_ms[len(step_ms) // 2] if step_ms else None,
                     "time": sum(r["time"] for r in arm_runs) / len(arm_runs),
                     "final": compare_stats.mean_ci([r["final"] for r in arm_runs]),
                     "skipped": sum(1 for r in arm_runs for rec in r["records"] if rec.get("skipped"))})
    baseline = next((a for a in arms if a["kind"] == "residual"), None)
    budgets = {}
    for x_key in ("flops", "time"):
        ends = [last_x(r, key, x_key) for r in runs]
        budgets[x_key] = min(ends) if ends and None not in ends else None
    for arm in arms:
        finals = [r["final"] for r in arm["runs"]]
        arm["diff"] = None if baseline is None or arm is baseline else compare_stats.welch(
            finals, [r["final"] for r in baseline["runs"]])
        for x_key, budget in budgets.items():
            values = [None if budget is None else value_at(r, key, x_key, budget) for r in arm["runs"]]
            arm["at_" + x_key] = compare_stats.mean_ci(values) if None not in values else (0, None, None)
        for name in ("amax_fwd", "amax_bwd"):
            values = [last_value(r["records"], name) for r in arm["runs"]]
            values = [v for v in values if v is not None]
            arm[name] = sum(values) / len(values) if values and arm["has_h_res"] else None
    return arms, key, lacking, baseline, budgets


def fmt(value, spec):
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def fmt_ci(stat):
    """'mean ± half' of a mean_ci triple; the mean alone for one value; n/a for none."""
    _, mean, half = stat
    return fmt(mean, ".4f") + ("" if half is None else " ± " + fmt(half, ".4f"))


def fmt_si(value, spec=".3g"):
    """1234567 as 1.23M (with spec "#.4g": 1.235M, trailing zeros kept)."""
    if value is None:
        return "n/a"
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return format(value / scale, spec) + suffix
    return format(value, spec)


def cost_table(arms):
    lines = ["| arm | runs | parameters | non-embedding | FLOPs/token | tokens seen | step ms (median) | "
             "train time s (mean) |", "|---|---|---|---|---|---|---|---|"]
    for a in arms:
        counts = a["counts"] if isinstance(a["counts"], dict) else None
        params = f"{counts['total']:,}" if counts else "n/a"
        non_emb = f"{model_cost.non_embedding(counts):,}" if counts else "n/a"
        lines.append(f"| {a['arm']} | {len(a['runs'])} | {params} | {non_emb} | {fmt_si(a['fpt'], '#.4g')} | "
                     f"{fmt_si(a['tokens'])} | {fmt(a['step_ms'], '.1f')} | {fmt(a['time'], '.1f')} |")
    return "\n".join(lines)


def loss_table(arms, key, baseline, budgets):
    label = "final val loss" if key == "val_loss" else f"final {key}"
    base = baseline["arm"] if baseline else "residual"
    lines = [f"| arm | n | {label} (mean ± 95 % CI) | Δ vs {base} (95 % CI) | p (Welch t, two-sided) | "
             f"at equal FLOPs ({fmt_si(budgets['flops'])}) | at equal time ({fmt(budgets['time'], '.1f')} s) | "
             "amax_fwd | amax_bwd | skipped steps |", "|---|---|---|---|---|---|---|---|---|---|"]
    for a in arms:
        d = a["diff"]
        diff = "n/a" if d is None else f"{d['diff']:+.4f} ± {fmt(d['half'], '.4f')}"
        lines.append(f"| {a['arm']} | {a['final'][0]} | {fmt_ci(a['final'])} | {diff} | "
                     f"{'n/a' if d is None else fmt(d['p'], '.3g')} | {fmt_ci(a['at_flops'])} | "
                     f"{fmt_ci(a['at_time'])} | {fmt(a['amax_fwd'], '.4g')} | {fmt(a['amax_bwd'], '.4g')} | "
                     f"{a['skipped']} |")
    return "\n".join(lines)


def runs_table(arms):
    lines = ["| run | arm | train.seed | last step | final | train time s |", "|---|---|---|---|---|---|"]
    for a in arms:
        for run in a["runs"]:
            seed = run["config"].get("train", {}).get("seed", "?")
            lines.append(f"| {run['name']} | {a['arm']} | {seed} | {run['records'][-1]['step']} | "
                         f"{fmt(run['final'], '.4f')} | {fmt(run['time'], '.1f')} |")
    return "\n".join(lines)


def notes_for(arms, key, metric, lacking, baseline, runs, binary):
    """The caveats printed under the tables: warnings first."""
    warnings, notes = [], []
    small = [f"{a['arm']} ({len(a['runs'])})" for a in arms if len(a["runs"]) < 3]
    if small:
        warnings.append("fewer than 3 seeds in " + ", ".join(small) + ": the confidence intervals are wide and the "
                        "p-values unreliable (n = 1: none); run scripts/sweep.sh with --seeds 1,2,3 or more")
    if lacking:
        warnings.append(f"{metric} missing in: {', '.join(lacking)}; compared the last train loss instead")
    differing = differing_keys(runs)
    if differing:
        warnings.append("runs differ in more than residual.* and train.seed: " + ", ".join(differing))
    if baseline is None:
        warnings.append("no residual arm: no differences or p-values")
    failed = sorted({a["counts"] for a in arms if not isinstance(a["counts"], dict)})
    if failed:
        warnings.append("parameters n/a: " + "; ".join(failed))
    if key == "val_loss":
        first = arms[0]["runs"][0]
        t, m = first["config"].get("train", {}), first["config"].get("model", {})
        tokens = t.get("eval_batches", 0) * t.get("micro_batch", 0) * m.get("seq_len", 0)
        notes.append(f"val loss: mean token cross-entropy over the same {tokens:,} held-out tokens at every "
                     f"evaluation (train.eval_batches x train.micro_batch x model.seq_len of {first['name']}), "
                     f"every train.eval_every = {t.get('eval_every', '?')} steps and at the last step")
    notes.append("95 % CI: mean ± t(0.975, n-1) s / sqrt(n) over the n runs (seeds) of an arm; Δ: difference of the "
                 "means with the Welch-Satterthwaite CI; p: Welch's two-sample t-test (unequal variances), two-sided")
    notes.append("at equal FLOPs / time: each run's curve interpolated linearly between evaluations at the smallest "
                 "budget that every run reached (its last evaluation), so the cheapest arm is read at its end")
    if not failed:
        notes.append(f"parameters: `{binary} plan` of each arm's config.resolved.json; non-embedding excludes the "
                     "token embedding and an untied LM head")
    notes.append("FLOPs/token computed by compare.py from config.resolved.json: " + model_cost.FLOPS_FORMULA)
    notes.append("train time: estimated from metrics.jsonl as the sum of step_ms x steps since the previous logged "
                 "step (evaluation, diagnostics and checkpoints excluded); step ms: median of the logged steps")
    if any(not a["has_h_res"] for a in arms):
        notes.append("amax (composite H_res gain, last diagnostic, mean over runs): n/a for residual, which has no "
                     "H_res")
    return warnings, notes


# ---- the command ----------------------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir", help="directory holding the run directories (e.g. a scripts/sweep.sh --out)")
    parser.add_argument("--out", help="where compare.png and compare.md go (default: DIR)")
    parser.add_argument("--metric", default="val_loss", help="metric whose last value is compared (default val_loss)")
    parser.add_argument("--x", choices=sorted(compare_plot.X_LABELS), default="step",
                        help="x-axis of the curves: step, tokens, flops or time (estimated training seconds); "
                             "default step")
    parser.add_argument("--smooth", type=float, default=0.8,
                        help="EMA weight of the train-loss curves, per logged step, 0 <= w < 1 (default 0.8)")
    parser.add_argument("--bin", default=DEFAULT_BIN,
                        help="mhc-train, whose plan gives the parameter counts (default: build/app/mhc-train of "
                             "this checkout)")
    args = parser.parse_args(argv)
    if not 0.0 <= args.smooth < 1.0:
        parser.error(f"--smooth must be in [0, 1), got {args.smooth}")
    python_deps.require(__file__, ["numpy", "matplotlib"], sys.argv[1:] if argv is None else argv)
    out = args.out or args.dir
    try:
        if not os.path.isdir(args.dir):
            raise CompareError(f"{args.dir} is not a directory")
        runs = find_runs(args.dir)
        assign_arms(runs)
        arms, key, lacking, baseline, budgets = summarize(runs, args.metric, args.bin)
        warnings, notes = notes_for(arms, key, args.metric, lacking, baseline, runs, args.bin)
        tables = cost_table(arms) + "\n\n" + loss_table(arms, key, baseline, budgets)
        os.makedirs(out, exist_ok=True)
        compare_plot.plot(arms, os.path.join(out, "compare.png"),
                          os.path.abspath(args.dir).rstrip("/").split("/")[-1], args.x, args.smooth, key)
    except CompareError as e:
        print(f"compare.py: {e}", file=sys.stderr)
        return 1
    with open(os.path.join(out, "compare.md"), "w", encoding="utf-8") as f:
        f.write(f"# Comparison of {len(runs)} runs under {args.dir}\n\n{tables}\n\n")
        for w in warnings:
            f.write(f"**Warning:** {w}.\n\n")
        for note in notes:
            f.write(f"- {note}.\n")
        f.write(f"\n![curves against {args.x}](compare.png)\n\n## Runs\n\n" + runs_table(arms) + "\n")
    print(tables)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    for note in notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
