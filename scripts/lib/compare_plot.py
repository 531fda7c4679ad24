"""The figure of scripts/compare.py: EMA-smoothed train loss, validation loss with a 95 % confidence band across seeds,
the composite H_res gains, the per-layer gains of the last diagnostic, the gradient norm and the learning rate, each
arm in its own colour, against steps, tokens, FLOPs or estimated training time."""
import math

import compare_stats

X_LABELS = {"step": "step", "tokens": "tokens seen", "flops": "training FLOPs (compare.py's count)",
            "time": "training time, s (sum of step_ms)"}


def arm_curve(runs, key, x_key):
    """(x, per-run values) at the steps where every run logged `key`: x is the mean over the runs (it differs between
    seeds only for "time"), values one list per step."""
    per_run = [{p["step"]: p for p in run["points"] if p.get(key) is not None and p.get(x_key) is not None}
               for run in runs]
    steps = sorted(set.intersection(*(set(d) for d in per_run)))
    xs = [sum(d[s][x_key] for d in per_run) / len(per_run) for s in steps]
    return xs, [[float(d[s][key]) for d in per_run] for s in steps]


def _zoom(ax, curves, x_max):
    """y limits from the values at x >= 20 % of the x range (the first steps' loss would flatten everything)."""
    values = [y for xs, ys in curves for x, y in zip(xs, ys) if x >= 0.2 * x_max and math.isfinite(y)]
    if values:
        lo, hi = min(values), max(values)
        pad = 0.05 * (hi - lo) if hi > lo else 0.05 * abs(hi) + 1e-3
        ax.set_ylim(lo - pad, hi + pad)


def _loss_panels(ax_train, ax_val, arms, x_key, smooth, metric):
    train_curves, val_curves, x_max = [], [], 0.0
    for i, arm in enumerate(arms):
        color, n = f"C{i}", len(arm["runs"])
        xs, values = arm_curve(arm["runs"], "loss", x_key)
        if xs:
            mean = compare_stats.ema([sum(v) / len(v) for v in values], smooth)
            ax_train.plot(xs, mean, color=color, lw=1.3, label=f"{arm['arm']} (n={n})")
            train_curves.append((xs, mean))
            x_max = max(x_max, xs[-1])
        xs, values = arm_curve(arm["runs"], metric, x_key)
        if xs:
            stats = [compare_stats.mean_ci(v) for v in values]
            mean = [m for _, m, _ in stats]
            ax_val.plot(xs, mean, color=color, lw=1.3, marker="o", ms=3, label=f"{arm['arm']} (n={n})")
            if all(h is not None for _, _, h in stats):
                lo = [m - h for _, m, h in stats]
                hi = [m + h for _, m, h in stats]
                ax_val.fill_between(xs, lo, hi, color=color, alpha=0.2, lw=0)
                val_curves += [(xs, lo), (xs, hi)]
            val_curves.append((xs, mean))
            x_max = max(x_max, xs[-1])
    ax_train.set_title(f"train loss, mean over seeds, EMA {smooth:g}")
    ax_val.set_title(f"{metric}: mean, 95 % t-CI band over seeds (none for n=1)")
    _zoom(ax_train, train_curves, x_max)
    _zoom(ax_val, val_curves, x_max)


def _gain_panels(ax_comp, ax_layer, arms, x_key):
    for i, arm in enumerate(arms):
        if not arm["has_h_res"]:
            continue
        for key, style in (("amax_fwd", "-"), ("amax_bwd", "--")):
            xs, values = arm_curve(arm["runs"], key, x_key)
            if xs:
                ax_comp.plot(xs, [sum(v) / len(v) for v in values], color=f"C{i}", ls=style, marker=".",
                             label=f"{arm['arm']} {key[-3:]}")
        for key, style in (("layer_fwd_gain", "-"), ("layer_bwd_gain", "--")):
            last = [next((p[key] for p in reversed(run["points"]) if p.get(key)), None) for run in arm["runs"]]
            last = [g for g in last if g]
            if last and all(len(g) == len(last[0]) for g in last):
                mean = [sum(g[j] for g in last) / len(last) for j in range(len(last[0]))]
                ax_layer.plot(range(len(mean)), mean, color=f"C{i}", ls=style, marker=".",
                              label=f"{arm['arm']} {key.split('_')[1]}")
    ax_comp.set_yscale("log")
    ax_comp.set_title("composite H_res gain (Amax, mean over probe tokens)")
    ax_layer.set_title("per-layer H_res gain at the last diagnostic")
    ax_layer.set_xlabel("residual layer (attention 2b, MLP 2b+1)")
    for ax in (ax_comp, ax_layer):
        ax.axhline(1.0, color="gray", lw=0.8, ls=":")
        ax.text(0.01, 0.01, "residual: no H_res (n/a)", transform=ax.transAxes, fontsize=7, color="gray")


def _plain_panel(ax, arms, key, x_key, title, log=False):
    for i, arm in enumerate(arms):
        xs, values = arm_curve(arm["runs"], key, x_key)
        if xs:
            ax.plot(xs, [sum(v) / len(v) for v in values], color=f"C{i}", lw=1.0, label=arm["arm"])
    if log:
        ax.set_yscale("log")
    ax.set_title(title)


def plot(arms, path, title, x_key, smooth, metric):
    """Writes the 2 x 3 figure to `path`; arms: dicts with arm, runs (each with points: one dict per logged step,
    the record plus step/tokens/flops/time) and has_h_res."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.4))
    _loss_panels(axes[0][0], axes[0][1], arms, x_key, smooth, metric)
    _gain_panels(axes[0][2], axes[1][0], arms, x_key)
    _plain_panel(axes[1][1], arms, "grad_norm", x_key, "gradient norm before clipping, mean over seeds", log=True)
    _plain_panel(axes[1][2], arms, "lr", x_key, "learning rate")
    for row in axes:
        for ax in row:
            ax.grid(alpha=0.3, which="both")
            ax.title.set_fontsize(9)
            if ax is not axes[1][0]:
                ax.set_xlabel(X_LABELS[x_key], fontsize=8)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
