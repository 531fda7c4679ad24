#!/usr/bin/env python3
"""Compares the mhc-train runs under a directory: loss curves per arm (compare.png) and a table (compare.md).

Usage: scripts/compare.py DIR [--out OUT_DIR] [--metric val_loss]

A run is a directory under DIR (at any depth) holding config.resolved.json and metrics.jsonl, e.g. what
scripts/sweep.sh writes. Runs are grouped into arms by residual.type (plus n_streams when one type appears with
several). The final value of a run is the last logged value of --metric (default val_loss); when some run never
logged it, the last train loss of every run is used instead, and the table says so. The p-value is Welch's
two-sided t-test of an arm's final values against the residual arm's (scipy when installed, else a built-in
regularized incomplete beta). Needs numpy and matplotlib (Debian: python3-numpy python3-matplotlib); a python3
without them hands the run over to /usr/bin/python3 when that one has them (scripts/lib/python_deps.py).
"""
import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import python_deps  # noqa: E402  (numpy and matplotlib are imported where used, after python_deps.require)

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
            runs.append({"name": os.path.relpath(dirpath, root), "config": config, "records": records})
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


# ---- Welch's t-test -------------------------------------------------------------------------------------------

def _betacf(a, b, x):
    """Continued fraction of the regularized incomplete beta (modified Lentz; Numerical Recipes 6.4)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def betainc(a, b, x):
    """Regularized incomplete beta I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def welch_p_fallback(a, b):
    """Two-sided p-value of Welch's t-test without scipy; NaN when undefined (zero variances)."""
    import numpy as np
    na, nb = len(a), len(b)
    va, vb = np.var(a, ddof=1) / na, np.var(b, ddof=1) / nb
    if va + vb == 0.0:
        return float("nan")
    t = (np.mean(a) - np.mean(b)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (na - 1) + vb ** 2 / (nb - 1))
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def welch_p(a, b):
    try:
        from scipy import stats
    except ImportError:
        return welch_p_fallback(a, b)
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


# ---- the table ------------------------------------------------------------------------------------------------

def summarize(runs, metric):
    """One row per arm; returns (rows, label of the final-value column, runs lacking the metric)."""
    import numpy as np
    lacking = [run["name"] for run in runs if last_value(run["records"], metric) is None]
    key = metric if not lacking else "loss"
    for run in runs:
        run["final"] = last_value(run["records"], key)
        if run["final"] is None:
            raise CompareError(f"{run['name']}/metrics.jsonl: no '{key}' in any record")
    label = f"final {key}" if not lacking else f"final train loss (no {metric} in {len(lacking)} run(s))"

    arms = {}
    for run in sorted(runs, key=lambda r: (r["arm_key"], r["name"])):
        arms.setdefault(run["arm"], []).append(run)
    baseline = next((arm for arm, rs in arms.items() if rs[0]["config"]["residual"]["type"] == "residual"), None)
    rows = []
    for arm, arm_runs in arms.items():
        finals = np.array([r["final"] for r in arm_runs])
        p = float("nan")
        if baseline is not None and arm != baseline and len(arm_runs) >= 2 and len(arms[baseline]) >= 2:
            p = welch_p(finals, np.array([r["final"] for r in arms[baseline]]))

        def mean_last(name):
            values = [last_value(r["records"], name) for r in arm_runs]
            values = [v for v in values if v is not None]
            return float(np.mean(values)) if values else None

        step_ms = [number(rec["step_ms"]) for r in arm_runs for rec in r["records"] if "step_ms" in rec]
        rows.append({
            "arm": arm, "runs": len(arm_runs), "mean": float(np.mean(finals)),
            "std": float(np.std(finals, ddof=1)) if len(finals) > 1 else None, "p": p,
            "amax_fwd": mean_last("amax_fwd"), "amax_bwd": mean_last("amax_bwd"),
            "step_ms": float(np.mean(step_ms)) if step_ms else None,
            "skipped": sum(1 for r in arm_runs for rec in r["records"] if rec.get("skipped")),
            "runs_list": arm_runs,
        })
    return rows, label, lacking, baseline


def fmt(value, spec):
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def markdown_table(rows, label, baseline):
    p_header = f"p vs {baseline} (Welch)" if baseline else "p vs residual (Welch)"
    lines = [f"| arm | runs | {label}: mean ± std | {p_header} | amax_fwd | amax_bwd | step_ms | skipped steps |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        final = fmt(row["mean"], ".4f") + (" ± " + fmt(row["std"], ".4f") if row["std"] is not None else "")
        lines.append(f"| {row['arm']} | {row['runs']} | {final} | {fmt(row['p'], '.3g')} | "
                     f"{fmt(row['amax_fwd'], '.4g')} | {fmt(row['amax_bwd'], '.4g')} | {fmt(row['step_ms'], '.1f')} | "
                     f"{row['skipped']} |")
    return "\n".join(lines)


def runs_table(rows):
    lines = ["| run | arm | train.seed | last step | final |", "|---|---|---|---|---|"]
    for row in rows:
        for run in row["runs_list"]:
            seed = run["config"].get("train", {}).get("seed", "?")
            lines.append(f"| {run['name']} | {row['arm']} | {seed} | {run['records'][-1]['step']} | "
                         f"{fmt(run['final'], '.4f')} |")
    return "\n".join(lines)


# ---- the plot -------------------------------------------------------------------------------------------------

def curve(arm_runs, key):
    """Steps logged by every run of the arm, with the mean, min and max of `key` over the runs."""
    import numpy as np
    per_run = [{rec["step"]: number(rec[key]) for rec in r["records"] if key in rec and not rec.get("skipped")}
               for r in arm_runs]
    steps = sorted(set.intersection(*(set(d) for d in per_run)))
    values = np.array([[d[s] for s in steps] for d in per_run]).reshape(len(per_run), len(steps))
    return np.array(steps), values


def plot(rows, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    has_diag = any(row["amax_fwd"] is not None for row in rows)
    fig, axes = plt.subplots(1, 2 if has_diag else 1, figsize=(13 if has_diag else 8, 5), squeeze=False)
    ax = axes[0][0]
    for i, row in enumerate(rows):
        color = f"C{i}"
        steps, values = curve(row["runs_list"], "loss")
        if len(steps):
            ax.plot(steps, values.mean(axis=0), color=color, lw=1.2, label=f"{row['arm']} train ({row['runs']} run{'s' if row['runs'] != 1 else ''})")
            ax.fill_between(steps, values.min(axis=0), values.max(axis=0), color=color, alpha=0.2, lw=0)
        steps, values = curve(row["runs_list"], "val_loss")
        if len(steps):
            ax.errorbar(steps, values.mean(axis=0), yerr=values.std(axis=0, ddof=1) if len(values) > 1 else None,
                        color=color, fmt="o", ms=4, capsize=2, label=f"{row['arm']} val")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (mean over seeds; band: min-max; bars: ±std)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if has_diag:
        ax = axes[0][1]
        for i, row in enumerate(rows):
            steps, values = curve(row["runs_list"], "amax_fwd")
            if len(steps):
                ax.plot(steps, values.mean(axis=0), color=f"C{i}", marker=".", label=f"{row['arm']} fwd")
            steps, values = curve(row["runs_list"], "amax_bwd")
            if len(steps):
                ax.plot(steps, values.mean(axis=0), color=f"C{i}", ls="--", label=f"{row['arm']} bwd")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("composite H_res gain (Amax, mean over probe tokens)")
        ax.set_title("stability (spec section 3)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir", help="directory holding the run directories (e.g. a scripts/sweep.sh --out)")
    parser.add_argument("--out", help="where compare.png and compare.md go (default: DIR)")
    parser.add_argument("--metric", default="val_loss", help="metric whose last value is compared (default val_loss)")
    args = parser.parse_args(argv)
    python_deps.require(__file__, ["numpy", "matplotlib"], sys.argv[1:] if argv is None else argv)
    out = args.out or args.dir
    try:
        if not os.path.isdir(args.dir):
            raise CompareError(f"{args.dir} is not a directory")
        runs = find_runs(args.dir)
        assign_arms(runs)
        rows, label, lacking, baseline = summarize(runs, args.metric)
        notes = []
        if lacking:
            notes.append(f"{args.metric} missing in: {', '.join(lacking)}; compared the last train loss instead")
        differing = differing_keys(runs)
        if differing:
            notes.append("runs differ in more than residual.* and train.seed: " + ", ".join(differing))
        if baseline is None:
            notes.append("no residual arm: no p-values")
        table = markdown_table(rows, label, baseline)
        os.makedirs(out, exist_ok=True)
        plot(rows, os.path.join(out, "compare.png"), os.path.abspath(args.dir).rstrip("/").split("/")[-1])
    except CompareError as e:
        print(f"compare.py: {e}", file=sys.stderr)
        return 1
    std_note = "std over runs (ddof=1); amax_*: last diagnostic of each run, mean over runs; step_ms: mean over logged steps"
    with open(os.path.join(out, "compare.md"), "w", encoding="utf-8") as f:
        f.write(f"# Comparison of {len(runs)} runs under {args.dir}\n\n{table}\n\n{std_note}.\n\n")
        for note in notes:
            f.write(f"Note: {note}.\n\n")
        f.write("![loss curves](compare.png)\n\n## Runs\n\n" + runs_table(rows) + "\n")
    print(table)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
