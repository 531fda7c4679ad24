#!/usr/bin/env python3
"""Where each rank's time went in a run's trace.json (the Chrome trace mhc-train writes for its last steps).

Usage: scripts/trace_summary.py RUN_DIR/trace.json [--json OUT]

Per rank, over the traced steps (the "step" spans): compute time (F + B + W), time blocked waiting for
a message ("wait"/"recv"), all-reduce time, and the measured bubble = 1 - compute / step time, i.e. the
share of each step the rank did not compute. Standard library only.
"""
import argparse
import json
import statistics
import sys


def summarize(events):
    spans = [e for e in events if e.get("ph") == "X"]
    ranks = sorted({e["tid"] for e in spans})
    rows = []
    for rank in ranks:
        mine = [e for e in spans if e["tid"] == rank]
        steps = sorted((e for e in mine if e.get("cat") == "step"), key=lambda e: e["ts"])
        if not steps:
            raise SystemExit(f"error: rank {rank} has no 'step' spans in the trace")

        def within(step, cats):
            lo, hi = step["ts"], step["ts"] + step["dur"]
            return sum(e["dur"] for e in mine if e.get("cat") in cats and lo <= e["ts"] < hi)

        step_us = [s["dur"] for s in steps]
        compute = [within(s, {"F", "B", "W"}) for s in steps]
        blocked = [within(s, {"wait", "recv"}) for s in steps]
        reduce_ = [within(s, {"allreduce"}) for s in steps]
        bubble = [1 - c / d if d > 0 else 0.0 for c, d in zip(compute, step_us)]
        rows.append({
            "rank": rank,
            "steps": len(steps),
            "step_ms_median": statistics.median(step_us) / 1e3,
            "compute_ms_median": statistics.median(compute) / 1e3,
            "blocked_ms_median": statistics.median(blocked) / 1e3,
            "allreduce_ms_median": statistics.median(reduce_) / 1e3,
            "bubble_median": statistics.median(bubble),
        })
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace")
    parser.add_argument("--json", help="also write the rows as JSON here")
    args = parser.parse_args()
    try:
        with open(args.trace) as f:
            events = json.load(f)["traceEvents"]
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"error: {args.trace}: not a readable Chrome trace ({e})")
    rows = summarize(events)
    print("| rank | steps | step ms | compute ms | blocked ms | all-reduce ms | bubble |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['rank']} | {r['steps']} | {r['step_ms_median']:.1f} | {r['compute_ms_median']:.1f} | "
              f"{r['blocked_ms_median']:.1f} | {r['allreduce_ms_median']:.1f} | {100 * r['bubble_median']:.1f} % |")
    mean = statistics.mean(r["bubble_median"] for r in rows)
    print(f"mean bubble over ranks: {100 * mean:.1f} % (medians over steps)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ranks": rows, "bubble_mean": mean}, f, indent=2)


if __name__ == "__main__":
    main()
