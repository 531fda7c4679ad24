#!/usr/bin/env python3
"""numpy float32 matmul GFLOP/s (median of repeats): the reference for `mhc-train bench ops` on the same machine.

Usage: scripts/bench_numpy_sgemm.py [--sizes 256 512 1024 2048] [--repeats 7]
Prints JSON; numpy must use the same OpenBLAS as mhc-train (Debian's python3-numpy does).
"""
import argparse
import json
import time

import numpy as np


def median_seconds(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    rows = []
    for n in args.sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        c = np.empty((n, n), dtype=np.float32)
        s = median_seconds(lambda: np.matmul(a, b, out=c), args.repeats)
        rows.append({"m": n, "n": n, "k": n, "median_ms": s * 1e3, "gflops": 2.0 * n**3 / s * 1e-9})
    print(json.dumps({"numpy": np.__version__, "matmul_f32": rows}, indent=2))


if __name__ == "__main__":
    main()
