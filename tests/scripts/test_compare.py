#!/usr/bin/env python3
"""Tests of scripts/compare.py on fabricated run directories and a fake `mhc-train plan` (needs numpy and matplotlib;
scipy optional: without it the expected values are the hand-computed ones)."""
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
stats_module, model_cost = compare.compare_stats, compare.model_cost

try:
    from scipy import stats
except ImportError:
    stats = None

# final val_loss per seed; residual mean 2.05 std 0.05, mhc mean 1.90 std 0.05 (ddof=1)
FINALS = {"residual": [2.00, 2.10, 2.05], "mhc": [1.95, 1.90, 1.85]}
# Hand-computed (and equal to scipy.stats, checked below): t(0.975, 2) = 4.302652729911275, so the CI half-width of
# one arm is 4.302652729911275 * 0.05 / sqrt(3) = 0.124206; Welch: se = sqrt(2 * 0.0025 / 3) = 0.0408248, df = 4,
# t = -0.15 / se = -3.674235, p = 2 * T_4(-3.674235) = 0.0213116, t(0.975, 4) = 2.776445105197793, so the CI
# half-width of the difference is 2.776445105197793 * 0.0408248 = 0.113348.
T975_2, T975_4 = 4.302652729911275, 2.776445105197793
HALF_ARM = T975_2 * 0.05 / math.sqrt(3)
HALF_DIFF = T975_4 * math.sqrt(2 * 0.0025 / 3)
P_EXPECTED = 0.021311641128756

MODEL = {"vocab_size": 256, "d_model": 64, "n_blocks": 2, "n_heads": 2, "ffn_hidden": 160, "seq_len": 32}
FAKE_PLAN = """#!/usr/bin/env python3
# prints the parameter table of `mhc-train plan` for the fixture configs: 1000 connection parameters for hc and mhc
import json, sys
c = json.load(open(sys.argv[sys.argv.index("--config") + 1]))
conn = 0 if c["residual"]["type"] == "residual" else 1000
parts = [("embedding", 16384), ("attention", 32768), ("mlp", 61440), ("norm", 320), ("connection", conn),
         ("head", 16384)]
total = sum(v for _, v in parts)
print("resolved config:\\n{}\\n\\nparameters by component:")
for name, v in parts:
    print(f"  {name:<12} {v:14d}  ({100.0 * v / total:5.2f}%)")
print(f"  {'total':<12} {total:14d}  in 20 tensors\\n\\nmemory ...")
"""
TOTAL = {"residual": 127296, "mhc": 128296}
NON_EMBEDDING = {"residual": 94528, "mhc": 95528}
# FLOPs per token of MODEL: matrix products 2 (4 * 64^2 + 3 * 64 * 160) + 256 * 64 = 110592 multiply-accumulates,
# causal attention 6 * 2 * 64 * 32 = 24576; mhc (n = 4, 4 residual layers) adds 4 * 4 * 64 * 24 (phi) + 4 * 24 * 64 (mixing)
# = 30720 multiply-accumulates.
FPT = {"residual": 6 * 110592 + 24576, "mhc": 6 * (110592 + 30720) + 24576}


def write_run(root, kind, seed, final, steps=20, val=True, diag=True, extra_config=None, step_ms=10.0, val_every=10):
    d = os.path.join(root, f"{kind}-s{seed}")
    os.makedirs(d)
    config = {"model": dict(MODEL), "data": {"seed": 1},
              "train": {"steps": steps, "seed": seed, "eval_batches": 2, "micro_batch": 4, "eval_every": val_every},
              "residual": {"type": kind, "n_streams": 1 if kind == "residual" else 4}}
    for section, values in (extra_config or {}).items():
        config[section].update(values)
    with open(os.path.join(d, "config.resolved.json"), "w") as f:
        json.dump(config, f)
    with open(os.path.join(d, "metrics.jsonl"), "w") as f:
        for step in range(1, steps + 1):
            rec = {"step": step, "tokens": 1024 * step, "loss": final + 1.0 / step, "lr": 1e-3, "grad_norm": 1.0,
                   "step_ms": step_ms, "tok_s": 1e5}
            if val and step % val_every == 0:
                rec["val_loss"] = final + 10.0 / step - 10.0 / steps
            if diag and step % 10 == 0:
                if kind == "residual":  # what the trainer logs: H_res = 1
                    rec.update(amax_fwd=1.0, amax_bwd=1.0, amax_fwd_max=1.0, amax_bwd_max=1.0, hres_dist_identity=0)
                else:
                    rec.update(amax_fwd=1.5 + seed / 10.0, amax_bwd=1.2, amax_fwd_max=2.0, amax_bwd_max=1.5,
                               layer_fwd_gain=[1.0, 1.1], layer_bwd_gain=[1.0, 1.0], hres_dist_identity=0.3)
            f.write(json.dumps(rec) + "\n")
    return d


def parse_tables(text):
    """[cost rows, loss rows], each arm -> list of cells, from the two markdown tables."""
    tables, current = [], None
    for line in text.splitlines():
        if line.startswith("| arm |"):
            current = {}
            tables.append(current)
        elif line.startswith("|---") or not line.startswith("|"):
            current = None if not line.startswith("|---") else current
        elif current is not None:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            current[cells[0]] = cells
    return tables


class CompareTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="compare-test-")
        self.runs = os.path.join(self.tmp, "sweep")
        os.makedirs(self.runs)
        self.bin = os.path.join(self.tmp, "fake-mhc-train")
        with open(self.bin, "w") as f:
            f.write(FAKE_PLAN.replace("/usr/bin/env python3", sys.executable))
        os.chmod(self.bin, 0o755)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def run_compare(self, *args, fake_bin=True):
        """compare.main in this process (importing numpy and matplotlib once keeps the tests fast)."""
        out, err = io.StringIO(), io.StringIO()
        args = list(args) + (["--bin", self.bin] if fake_bin else [])
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = compare.main(args)
        return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())

    def make_grid(self, seeds=3, **kw):
        for kind, finals in FINALS.items():
            for seed, final in enumerate(finals[:seeds], start=1):
                write_run(self.runs, kind, seed, final, step_ms=10.0 if kind == "residual" else 13.0, **kw)

    def test_tables(self):
        self.make_grid()
        r = self.run_compare(self.runs)
        self.assertEqual(r.returncode, 0, r.stderr)
        cost, loss = parse_tables(r.stdout)
        self.assertEqual(list(cost), ["residual", "mhc"])  # residual first
        for kind in ("residual", "mhc"):
            self.assertEqual(cost[kind][1:4], ["3", f"{TOTAL[kind]:,}", f"{NON_EMBEDDING[kind]:,}"])
            self.assertEqual(cost[kind][4], {"residual": "688.1k", "mhc": "872.4k"}[kind])  # FPT
        self.assertEqual(cost["residual"][5:], ["20.5k", "10.0", "0.2"])  # 20 steps x 10 ms
        self.assertEqual(cost["mhc"][6:], ["13.0", "0.3"])
        # val_loss at step 20 is the final value
        self.assertEqual(loss["residual"][1:5], ["3", f"2.0500 ± {HALF_ARM:.4f}", "n/a", "n/a"])
        self.assertEqual(loss["mhc"][1:4], ["3", f"1.9000 ± {HALF_ARM:.4f}", f"-0.1500 ± {HALF_DIFF:.4f}"])
        self.assertAlmostEqual(float(loss["mhc"][4]), P_EXPECTED, places=4)
        self.assertEqual(loss["residual"][7:], ["n/a", "n/a", "0"])  # no H_res: n/a although the trainer logs 1
        self.assertEqual(loss["mhc"][7:], ["1.7", "1.2", "0"])  # amax_fwd: mean of 1.6, 1.7, 1.8
        self.assertIn("p (Welch t, two-sided)", r.stdout)
        self.assertIn("note: val loss: mean token cross-entropy over the same 256 held-out tokens", r.stdout)
        self.assertNotIn("warning:", r.stderr)
        png = os.path.join(self.runs, "compare.png")
        with open(png, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        with open(os.path.join(self.runs, "compare.md")) as f:
            md = f.read()
        self.assertIn(r.stdout.split("\n\nnote:")[0].split("\nnote:")[0].strip(), md)
        self.assertIn("| mhc-s2 | mhc | 2 | 20 | 1.9000 | 0.3 |", md)
        self.assertNotIn("Warning", md)

    def test_statistics_match_scipy(self):
        if stats is None:
            self.skipTest("scipy not installed")
        self.assertAlmostEqual(stats.t.ppf(0.975, 2), T975_2, places=12)
        self.assertAlmostEqual(stats.t.ppf(0.975, 4), T975_4, places=12)
        res = stats.ttest_ind(FINALS["mhc"], FINALS["residual"], equal_var=False)
        self.assertAlmostEqual(res.pvalue, P_EXPECTED, places=12)
        w = stats_module.welch(FINALS["mhc"], FINALS["residual"])
        self.assertAlmostEqual(w["p"], res.pvalue, places=12)
        self.assertAlmostEqual(w["t"], res.statistic, places=12)
        self.assertAlmostEqual(w["half"], HALF_DIFF, places=12)
        a, b = [1.0, 1.3, 0.7, 1.1, 0.95], [1.4, 1.5, 2.9]  # unequal sizes and variances: df not an integer
        w = stats_module.welch(a, b)
        self.assertAlmostEqual(w["p"], stats.ttest_ind(a, b, equal_var=False).pvalue, places=12)
        if hasattr(res, "confidence_interval"):  # scipy >= 1.10
            ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
            self.assertAlmostEqual(w["diff"] - w["half"], ci.low, places=12)
            self.assertAlmostEqual(w["diff"] + w["half"], ci.high, places=12)
        n, mean, half = stats_module.mean_ci(a)
        sem = stats.sem(a)
        self.assertEqual(n, 5)
        self.assertAlmostEqual(half, stats.t.ppf(0.975, 4) * sem, places=12)

    def test_statistics_without_scipy(self):
        f = stats_module
        self.assertAlmostEqual(f.t_ppf_fallback(0.975, 2), T975_2, places=8)
        self.assertAlmostEqual(f.t_ppf_fallback(0.975, 4), T975_4, places=8)
        self.assertAlmostEqual(f.t_ppf_fallback(0.975, 1), 12.706204736174707, places=8)  # tan(0.475 pi)
        self.assertAlmostEqual(2 * f.t_sf_fallback(3.674234614174767, 4), P_EXPECTED, places=12)
        self.assertAlmostEqual(f.t_sf_fallback(-1.0, 1), 0.75, places=14)  # Cauchy: 1/2 + atan(1)/pi
        # I_x(1, 1) = x, I_x(a, b) = 1 - I_{1-x}(b, a), I_x(1/2, 1/2) = 2/pi asin(sqrt(x))
        self.assertAlmostEqual(f.betainc(1.0, 1.0, 0.3), 0.3, places=14)
        self.assertAlmostEqual(f.betainc(2.5, 0.5, 0.9), 1 - f.betainc(0.5, 2.5, 0.1), places=14)
        self.assertAlmostEqual(f.betainc(0.5, 0.5, 0.2), 2 / math.pi * math.asin(math.sqrt(0.2)), places=13)
        self.assertTrue(math.isnan(f.welch([1.0, 1.0], [2.0, 2.0])["p"]))
        self.assertIsNone(f.welch([1.0], [2.0, 2.5]))
        self.assertEqual(f.mean_ci([2.0]), (1, 2.0, None))

    def test_ema_and_interpolation(self):
        # weight 0.5: acc 0.5, 1.25, 0.625 over norms 0.5, 0.75, 0.875
        self.assertEqual(stats_module.ema([1.0, 2.0, 0.0], 0.5), [1.0, 1.25 / 0.75, 0.625 / 0.875])
        self.assertEqual(stats_module.ema([3.0, 1.0], 0.0), [3.0, 1.0])
        self.assertEqual(stats_module.interpolate_at([0, 10, 20], [1.0, 2.0, 4.0], 15), 3.0)
        self.assertIsNone(stats_module.interpolate_at([10, 20], [1.0, 2.0], 5))
        self.assertIsNone(stats_module.interpolate_at([10, 20], [1.0, 2.0], 21))

    def test_fewer_than_three_seeds_warn(self):
        self.make_grid(seeds=2)
        r = self.run_compare(self.runs)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("warning: fewer than 3 seeds in residual (2), mhc (2): the confidence intervals are wide",
                      r.stderr)
        with open(os.path.join(self.runs, "compare.md")) as f:
            self.assertIn("**Warning:** fewer than 3 seeds in residual (2), mhc (2)", f.read())
        # n = 2: t(0.975, 1) = 12.706 times s / sqrt(2) with s = 0.0707107 (residual 2.00, 2.10)
        loss = parse_tables(r.stdout)[1]
        self.assertEqual(loss["residual"][1:3], ["2", f"2.0500 ± {12.706204736174707 * 0.05:.4f}"])

    def test_equal_flops_and_time(self):
        # residual: 20 steps; mhc: 40 steps with more FLOPs per token and 13 ms steps. The smallest FLOPs budget
        # is residual's end (20 x 1024 tokens x FPT residual); mhc is read there on its val curve, linearly between
        # its evaluations at steps 10 and 20: val(step) = 1.9 + 10 / step - 10 / 40.
        write_run(self.runs, "residual", 1, 2.0, steps=20)
        write_run(self.runs, "mhc", 1, 1.9, steps=40, step_ms=13.0)
        r = self.run_compare(self.runs)
        self.assertEqual(r.returncode, 0, r.stderr)
        loss = parse_tables(r.stdout)[1]
        budget = 20 * 1024 * FPT["residual"]
        step = budget / (1024 * FPT["mhc"])  # 15.9 steps of mhc
        v10, v20 = 1.9 + 1.0 - 0.25, 1.9 + 0.5 - 0.25
        expected = v10 + (v20 - v10) * (step - 10) / 10
        self.assertEqual(loss["residual"][5], "2.0000")
        self.assertEqual(loss["mhc"][5], f"{expected:.4f}")
        self.assertIn(f"at equal FLOPs ({compare.fmt_si(budget)})", r.stdout)
        # time: residual ends at 0.2 s, mhc reaches it at step 0.2 / 0.013 = 15.38
        t_step = 0.2 / 0.013
        self.assertEqual(loss["mhc"][6], f"{v10 + (v20 - v10) * (t_step - 10) / 10:.4f}")
        self.assertIn("at equal time (0.2 s)", r.stdout)
        self.assertIn("fewer than 3 seeds", r.stderr)
        self.assertIn("runs differ in more than residual.* and train.seed: train.steps", r.stderr)

    def test_time_estimate_from_logged_steps(self):
        run = {"records": [{"step": 1, "step_ms": 100.0}, {"step": 10, "step_ms": 20.0},
                           {"step": 20, "step_ms": 30.0, "val_loss": 2.0}]}
        compare.add_points(run, 10.0)
        self.assertAlmostEqual(run["time"], 0.1 + 9 * 0.02 + 10 * 0.03)
        self.assertEqual([p["flops"] for p in run["points"]], [None] * 3)  # no tokens logged

    def test_x_axes_and_residual_without_gains(self):
        self.make_grid(seeds=2)
        for x in ("step", "tokens", "flops", "time"):
            out = os.path.join(self.tmp, x)
            r = self.run_compare(self.runs, "--x", x, "--out", out, "--smooth", "0.5")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(os.path.getsize(os.path.join(out, "compare.png")) > 10000)
        runs = compare.find_runs(self.runs)
        compare.assign_arms(runs)
        arms = compare.summarize(runs, "val_loss", self.bin)[0]
        self.assertEqual([a["has_h_res"] for a in arms], [False, True])
        self.assertIn("amax (composite H_res gain, last diagnostic, mean over runs): n/a for residual", r.stdout)
        with self.assertRaises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
            compare.main([self.runs, "--smooth", "1"])

    def test_y_axis_ignores_the_first_fifth(self):
        class Axis:
            def set_ylim(self, lo, hi):
                self.limits = (lo, hi)
        ax = Axis()
        # x = 0 .. 100: the loss of the first 20 % (5.6 at x = 0) is left out; 2.0 .. 3.0 padded by 5 %
        compare.compare_plot._zoom(ax, [([0, 10, 20, 60, 100], [5.6, 4.0, 3.0, 2.5, 2.0])], 100)
        self.assertAlmostEqual(ax.limits[0], 1.95)
        self.assertAlmostEqual(ax.limits[1], 3.05)

    def test_plan_parsing(self):
        text = ("resolved config:\n{}\n\nparameters by component:\n  embedding           32768  ( 3.77%)\n"
                "  connection            0  ( 0.00%)\n  head                32768  ( 3.77%)\n"
                "  total               65536  in 3 tensors\n\nmemory\n")
        counts = model_cost.parse_plan_parameters(text)
        self.assertEqual(counts, {"embedding": 32768, "connection": 0, "head": 32768, "total": 65536})
        self.assertEqual(model_cost.non_embedding(counts), 0)
        with self.assertRaises(model_cost.PlanError):
            model_cost.parse_plan_parameters(text.replace("65536", "65535"))
        with self.assertRaises(model_cost.PlanError):
            model_cost.parse_plan_parameters("no table")
        for kind in ("residual", "mhc"):
            config = {"model": MODEL, "residual": {"type": kind, "n_streams": 1 if kind == "residual" else 4}}
            self.assertEqual(model_cost.flops_per_token(config), FPT[kind])
        # hc: w per stream 4 * 64 * 6, mixing (16 + 8) * 64, per residual layer; the gate adds 4 * 64 * 4
        hc = {"model": MODEL, "residual": {"type": "hc", "n_streams": 4, "head_merge": "gate"}}
        self.assertEqual(model_cost.flops_per_token(hc), 6 * (110592 + 4 * (1536 + 1536) + 1024) + 24576)

    def test_missing_binary_gives_na_parameters(self):
        self.make_grid()
        r = self.run_compare(self.runs, "--bin", os.path.join(self.tmp, "absent"), fake_bin=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(parse_tables(r.stdout)[0]["mhc"][2:4], ["n/a", "n/a"])
        self.assertIn("warning: parameters n/a: cannot run", r.stderr)

    def test_config_without_model_has_no_flops(self):
        write_run(self.runs, "residual", 1, 2.0)
        d = write_run(self.runs, "mhc", 1, 1.9)
        with open(os.path.join(d, "config.resolved.json")) as f:
            config = json.load(f)
        del config["model"]
        with open(os.path.join(d, "config.resolved.json"), "w") as f:
            json.dump(config, f)
        r = self.run_compare(self.runs, "--x", "flops")
        self.assertEqual(r.returncode, 0, r.stderr)
        cost, loss = parse_tables(r.stdout)
        self.assertEqual(cost["mhc"][4], "n/a")
        self.assertEqual(loss["mhc"][5], "n/a")  # no FLOPs budget
        self.assertIn("at equal FLOPs (n/a)", r.stdout)

    def test_out_dir_and_train_loss_fallback(self):
        self.make_grid(val=False, diag=False)
        out = os.path.join(self.tmp, "report")
        r = self.run_compare(self.runs, "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("final loss (mean ± 95 % CI)", r.stdout)
        self.assertIn("compared the last train loss instead", r.stderr)
        loss = parse_tables(r.stdout)[1]
        self.assertEqual(loss["mhc"][2], f"1.9500 ± {HALF_ARM:.4f}")  # loss at step 20 = final + 1/20
        self.assertEqual(loss["mhc"][7:9], ["n/a", "n/a"])
        self.assertTrue(os.path.exists(os.path.join(out, "compare.md")))
        self.assertFalse(os.path.exists(os.path.join(self.runs, "compare.md")))

    def test_single_runs_and_stream_arms(self):
        write_run(self.runs, "residual", 1, 2.0)
        write_run(self.runs, "hc", 1, 1.9)
        write_run(self.runs, "hc", 2, 1.8, extra_config={"residual": {"n_streams": 2}})
        r = self.run_compare(self.runs)
        self.assertEqual(r.returncode, 0, r.stderr)
        loss = parse_tables(r.stdout)[1]
        self.assertEqual(list(loss), ["residual", "hc n=2", "hc n=4"])
        self.assertEqual(loss["hc n=2"][1:5], ["1", "1.8000", "n/a", "n/a"])  # one run: no CI, no test

    def test_skipped_steps_are_counted_and_ignored(self):
        d = write_run(self.runs, "hc", 1, 1.9)
        with open(os.path.join(d, "metrics.jsonl"), "a") as f:
            f.write(json.dumps({"step": 21, "loss": None, "val_loss": None, "skipped": True, "step_ms": 10}) + "\n")
        r = self.run_compare(self.runs)
        self.assertEqual(r.returncode, 0, r.stderr)
        loss = parse_tables(r.stdout)[1]
        self.assertEqual(loss["hc"][2], "1.9000")
        self.assertEqual(loss["hc"][-1], "1")
        self.assertIn("no residual arm", r.stderr)

    def test_command_line(self):
        self.make_grid()
        r = subprocess.run([sys.executable, COMPARE, self.runs, "--bin", self.bin], capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(parse_tables(r.stdout)[1]["mhc"][2], f"1.9000 ± {HALF_ARM:.4f}")
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
