#!/usr/bin/env python3
"""numpy float32 matmul GFLOP/s (median of repeats): the reference for `mhc-train bench ops` on the same machine.

Usage: scripts/bench_numpy_sgemm.py [--sizes 256 512 1024 2048] [--repeats 7]
Prints JSON; numpy must use the same OpenBLAS as mhc-train (Debian's python3-numpy does). A python3 without numpy
hands the run over to /usr/bin/python3 when that one has it (scripts/lib/python_deps.py).
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import python_deps  # noqa: E402


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
    python_deps.require(__file__, ["numpy"], sys.argv[1:])
    import numpy as np

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
