#!/usr/bin/env python3
"""Tests of scripts/compare.py on fabricated run directories (needs numpy and matplotlib; scipy optional)."""
import contextlib
import importlib.util
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
COMPARE = os.path.join(os.path.dirname(os.path.dirname(HERE)), "scripts", "compare.py")

spec = importlib.util.spec_from_file_location("compare", COMPARE)
compare = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare)

try:
    from scipy import stats
except ImportError:
    stats = None

# final val_loss per seed; residual mean 2.05 std 0.05, mhc mean 1.90 std 0.05 (ddof=1)
FINALS = {"residual": [2.00, 2.10, 2.05], "mhc": [1.95, 1.90, 1.85]}
# Welch t = 0.15 / sqrt(2 * 0.0025 / 3) = 3.674235, df = 4; p = 2 * (1 - T_4(3.674235)) (hand-computed with
# scipy.stats.t.sf(3.674235, 4) * 2)
P_EXPECTED = 0.021311641128756


def write_run(root, kind, seed, final, steps=20, val=True, diag=True, extra_config=None, step_ms=10.0):
    d = os.path.join(root, f"{kind}-s{seed}")
    os.makedirs(d)
    config = {"model": {"d_model": 64}, "data": {"seed": 1}, "train": {"steps": steps, "seed": seed},
              "residual": {"type": kind, "n_streams": 1 if kind == "residual" else 4}}
    for section, values in (extra_config or {}).items():
        config[section].update(values)
    with open(os.path.join(d, "config.resolved.json"), "w") as f:
        json.dump(config, f)
    with open(os.path.join(d, "metrics.jsonl"), "w") as f:
        for step in range(1, steps + 1):
            rec = {"step": step, "tokens": 1024 * step, "loss": final + 1.0 / step, "lr": 1e-3, "grad_norm": 1.0,
                   "step_ms": step_ms, "tok_s": 1e5}
            if val and step % 10 == 0:
                rec["val_loss"] = final + 10.0 / step - 0.5
            if diag and kind != "residual" and step % 10 == 0:
                rec.update(amax_fwd=1.5 + seed / 10.0, amax_bwd=1.2, amax_fwd_max=2.0, amax_bwd_max=1.5,
                           layer_fwd_gain=[1.0, 1.1], layer_bwd_gain=[1.0, 1.0], hres_dist_identity=0.3)
            f.write(json.dumps(rec) + "\n")
    return d


def parse_rows(table):
    """arm -> list of cells of a markdown table."""
    rows = {}
    for line in table.strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells
    return rows


class CompareTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="compare-test-")
        self.runs = os.path.join(self.tmp, "sweep")
        os.makedirs(self.runs)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def run_compare(self, *args):
        """compare.main in this process (importing numpy and matplotlib once keeps the tests fast)."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = compare.main(list(args))
        return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())

    def make_grid(self, **kw):
        for kind, finals in FINALS.items():
            for seed, final in enumerate(finals, start=1):
                write_run(self.runs, kind, seed, final, step_ms=10.0 if kind == "residual" else 13.0, **kw)

    def test_table_plot_and_markdown(self):
        self.make_grid()
        r = self.run_compare(self.runs)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("final val_loss: mean ± std", r.stdout)
        rows = parse_rows(r.stdout)
        self.assertEqual(list(rows), ["residual", "mhc"])  # residual first
        # val_loss at step 20 is final + 10/20 - 0.5 = final
        self.assertEqual(rows["residual"][1:4], ["3", "2.0500 ± 0.0500", "n/a"])
        self.assertEqual(rows["mhc"][1:3], ["3", "1.9000 ± 0.0500"])
        self.assertAlmostEqual(float(rows["mhc"][3]), P_EXPECTED, places=4)
        self.assertEqual(rows["residual"][4:], ["n/a", "n/a", "10.0", "0"])
        self.assertEqual(rows["mhc"][4:], ["1.7", "1.2", "13.0", "0"])  # amax_fwd: mean of 1.6, 1.7, 1.8
        png = os.path.join(self.runs, "compare.png")
        self.assertTrue(os.path.getsize(png) > 1000)
        with open(png, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        with open(os.path.join(self.runs, "compare.md")) as f:
            md = f.read()
        self.assertIn(r.stdout.strip(), md)
        self.assertIn("| mhc-s2 | mhc | 2 | 20 | 1.9000 |", md)
        self.assertNotIn("note:", r.stderr)

    @unittest.skipIf(stats is None, "scipy not installed")
    def test_p_value_matches_scipy(self):
        self.make_grid()
        rows = parse_rows(self.run_compare(self.runs).stdout)
        expected = stats.ttest_ind(FINALS["mhc"], FINALS["residual"], equal_var=False).pvalue
        self.assertAlmostEqual(expected, P_EXPECTED, places=12)
        self.assertEqual(rows["mhc"][3], format(expected, ".3g"))

    def test_fallback_welch_matches(self):
        self.assertAlmostEqual(compare.welch_p_fallback(FINALS["mhc"], FINALS["residual"]), P_EXPECTED, places=12)
        # unequal sizes and variances: df not an integer
        a, b = [1.0, 1.3, 0.7, 1.1, 0.95], [1.4, 1.5, 2.9]
        p = compare.welch_p_fallback(a, b)
        if stats is not None:
            self.assertAlmostEqual(p, stats.ttest_ind(a, b, equal_var=False).pvalue, places=12)
        self.assertTrue(0.0 < p < 1.0)
        # I_x(1, 1) = x, I_x(a, b) = 1 - I_{1-x}(b, a), I_x(1/2, 1/2) = 2/pi asin(sqrt(x))
        self.assertAlmostEqual(compare.betainc(1.0, 1.0, 0.3), 0.3, places=14)
        self.assertAlmostEqual(compare.betainc(2.5, 0.5, 0.9), 1 - compare.betainc(0.5, 2.5, 0.1), places=14)
        self.assertAlmostEqual(compare.betainc(0.5, 0.5, 0.2), 2 / math.pi * math.asin(math.sqrt(0.2)), places=13)
        self.assertTrue(math.isnan(compare.welch_p_fallback([1.0, 1.0], [2.0, 2.0])))

    def test_out_dir_and_train_loss_fallback(self):
        self.make_grid(val=False, diag=False)
        out = os.path.join(self.tmp, "report")
        r = self.run_compare(self.runs, "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("final train loss (no val_loss in 6 run(s))", r.stdout)
        self.assertIn("compared the last train loss instead", r.stderr)
        rows = parse_rows(r.stdout)
        self.assertEqual(rows["mhc"][2], "1.9500 ± 0.0500")  # loss at step 20 = final + 1/20
        self.assertEqual(rows["mhc"][4:6], ["n/a", "n/a"])
        self.assertTrue(os.path.getsize(os.path.join(out, "compare.png")) > 0)
        self.assertTrue(os.path.exists(os.path.join(out, "compare.md")))
        self.assertFalse(os.path.exists(os.path.join(self.runs, "compare.md")))

    def test_single_runs_and_stream_arms(self):
        write_run(self.runs, "residual", 1, 2.0)
        write_run(self.runs, "hc", 1, 1.9)
        d = write_run(self.runs, "hc", 2, 1.8)
        with open(os.path.join(d, "config.resolved.json")) as f:
            config = json.load(f)
        config["residual"]["n_streams"] = 2
        with open(os.path.join(d, "config.resolved.json"), "w") as f:
            json.dump(config, f)
        r = self.run_compare(self.runs)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = parse_rows(r.stdout)
        self.assertEqual(list(rows), ["residual", "hc n=2", "hc n=4"])
        self.assertEqual(rows["hc n=2"][1:4], ["1", "1.8000", "n/a"])  # one run: no std, no p-value

    def test_differing_configs_are_flagged(self):
        write_run(self.runs, "residual", 1, 2.0)
        write_run(self.runs, "mhc", 1, 1.9, extra_config={"train": {"lr": 0.1}})
        r = self.run_compare(self.runs)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("runs differ in more than residual.* and train.seed: train.lr", r.stderr)

    def test_skipped_steps_are_counted_and_ignored(self):
        d = write_run(self.runs, "hc", 1, 1.9)
        with open(os.path.join(d, "metrics.jsonl"), "a") as f:
            f.write(json.dumps({"step": 21, "loss": None, "val_loss": None, "skipped": True, "step_ms": 10}) + "\n")
        r = self.run_compare(self.runs)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(parse_rows(r.stdout)["hc"][2], "1.9000")
        self.assertEqual(parse_rows(r.stdout)["hc"][-1], "1")
        self.assertIn("no residual arm", r.stderr)

    def test_command_line(self):
        self.make_grid()
        r = subprocess.run([sys.executable, COMPARE, self.runs], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(parse_rows(r.stdout)["mhc"][2], "1.9000 ± 0.0500")
        r = subprocess.run([sys.executable, COMPARE, os.path.join(self.tmp, "empty")], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("compare.py: ", r.stderr)

    def test_errors(self):
        r = self.run_compare(self.runs)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no runs found under", r.stderr)
        r = self.run_compare(os.path.join(self.tmp, "absent"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("is not a directory", r.stderr)

        d = write_run(self.runs, "mhc", 1, 1.9)
        metrics = os.path.join(d, "metrics.jsonl")
        with open(metrics) as f:
            lines = f.readlines()
        lines[6] = '{"step": 7, "loss": 1.2\n'
        with open(metrics, "w") as f:
            f.writelines(lines)
        r = self.run_compare(self.runs)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, re.escape(metrics) + r":7: not valid JSON")

        lines[6] = '{"loss": 1.2}\n'
        with open(metrics, "w") as f:
            f.writelines(lines)
        r = self.run_compare(self.runs)
        self.assertEqual(r.returncode, 1)
        self.assertIn(metrics + ":7: expected an object with an integer 'step'", r.stderr)

        open(metrics, "w").close()
        r = self.run_compare(self.runs)
        self.assertEqual(r.returncode, 1)
        self.assertIn(metrics + ": no metrics (empty file)", r.stderr)

        write_run(self.runs, "hc", 1, 1.9)
        shutil.rmtree(d)
        with open(os.path.join(self.runs, "hc-s1", "config.resolved.json"), "w") as f:
            f.write("{oops")
        r = self.run_compare(self.runs)
        self.assertEqual(r.returncode, 1)
        self.assertIn("hc-s1/config.resolved.json: not valid JSON", r.stderr)


if __name__ == "__main__":
    unittest.main()
