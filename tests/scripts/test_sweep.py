#!/usr/bin/env python3
"""Tests of scripts/sweep.sh against tests/scripts/fake_trainer.sh (standard library only)."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SWEEP = os.path.join(ROOT, "scripts", "sweep.sh")
FAKE = os.path.join(HERE, "fake_trainer.sh")
CONFIG = os.path.join(ROOT, "configs", "tiny-mhc.json")


class SweepTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sweep-test-")
        self.out = os.path.join(self.tmp, "sweep")
        self.calls = os.path.join(self.tmp, "calls")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def sweep(self, *args, fail="", short="", config=CONFIG, bin_path=FAKE):
        env = dict(os.environ, MHC_PYTHON=sys.executable, FAKE_CALLS=self.calls, FAKE_FAIL=fail, FAKE_SHORT=short)
        cmd = [SWEEP, "--out", self.out, "--config", config, "--bin", bin_path, *args]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)

    def called(self):
        if not os.path.exists(self.calls):
            return []
        with open(self.calls) as f:
            return sorted(f.read().split())

    def sets(self, run):
        with open(os.path.join(self.out, run, "sets.txt")) as f:
            return f.read().split("\n")[:-1]

    def test_grid_names_and_overrides(self):
        r = self.sweep("--types", "residual,mhc", "--seeds", "1,7", "--set", "train.steps=4",
                       "--set", "train.lr=1e-3")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        runs = ["mhc-s1", "mhc-s7", "residual-s1", "residual-s7"]
        self.assertEqual(sorted(os.listdir(self.out)), runs)
        self.assertEqual(self.called(), runs)
        for run in runs:
            self.assertRegex(r.stdout, r"ok +%s +4 steps" % run)
            self.assertTrue(os.path.getsize(os.path.join(self.out, run, "train.log")) > 0)
        self.assertEqual(self.sets("residual-s7"), ["residual.type=residual", "residual.n_streams=1",
                                                    "train.seed=7", "train.steps=4", "train.lr=1e-3"])
        # n_streams from the config (4); data.seed is never touched
        self.assertEqual(self.sets("mhc-s1"), ["residual.type=mhc", "residual.n_streams=4",
                                               "train.seed=1", "train.steps=4", "train.lr=1e-3"])

    def test_keys_with_digits(self):
        # train.beta1 and train.beta2 (docs/config.md) have a digit in their names
        r = self.sweep("--types", "mhc", "--seeds", "1", "--set", "train.beta1=0.9", "--set", "train.beta2=0.95")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.sets("mhc-s1")[3:], ["train.beta1=0.9", "train.beta2=0.95"])

    def test_streams_override_skips_residual_arm(self):
        r = self.sweep("--types", "residual,hc", "--seeds", "3", "--set", "residual.n_streams=2")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.sets("hc-s3")[:3], ["residual.type=hc", "residual.n_streams=2", "train.seed=3"])
        self.assertEqual(self.sets("hc-s3")[3:], ["residual.n_streams=2"])
        self.assertEqual(self.sets("residual-s3"), ["residual.type=residual", "residual.n_streams=1",
                                                    "train.seed=3"])

    def test_single_stream_config_gives_four_streams(self):
        cfg = os.path.join(self.tmp, "res.json")
        with open(cfg, "w") as f:
            f.write('{"residual": {"type": "residual", "n_streams": 1} // a comment\n}\n')
        r = self.sweep("--types", "hc", "--seeds", "1", config=cfg)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("residual.n_streams=4", self.sets("hc-s1"))

    def test_resume_skips_complete_runs_and_reruns_incomplete(self):
        r = self.sweep("--seeds", "1,2", "--jobs", "2", short="mhc-s2")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"FAIL +mhc-s2 +exit 0 but metrics.jsonl stops at step 4 of 5")
        self.assertEqual(len(self.called()), 6)
        os.remove(self.calls)
        r = self.sweep("--seeds", "1,2", "--jobs", "2")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.called(), ["mhc-s2"])
        self.assertEqual(r.stdout.count("skip "), 5)
        self.assertRegex(r.stdout, r"skip +hc-s1 +complete \(step 5\)")

    def test_changed_arguments_are_not_mixed(self):
        self.assertEqual(self.sweep("--types", "hc", "--seeds", "1").returncode, 0)
        r = self.sweep("--types", "hc", "--seeds", "1", "--set", "train.lr=1")
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stdout, r"FAIL +hc-s1 +finished with other arguments")

    def test_failure_is_reported_and_others_still_run(self):
        r = self.sweep("--seeds", "1,2", fail="hc-s1")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        log = os.path.join(self.out, "hc-s1", "train.log")
        self.assertRegex(r.stdout, r"FAIL +hc-s1 +exit 3 .*log: %s" % log)
        self.assertIn("| fake: non-finite loss at step 2", r.stdout)
        self.assertIn("1 of 6 runs failed: hc-s1", r.stderr)
        self.assertEqual(len(self.called()), 6)
        # the failed run is retried on the next call
        os.remove(self.calls)
        self.assertEqual(self.sweep("--seeds", "1,2").returncode, 0)
        self.assertEqual(self.called(), ["hc-s1"])

    def test_help_lists_every_option(self):
        with open(SWEEP) as f:
            options = set(re.findall(r"^ +(?:-h \| )?(--[a-z]+)\)", f.read(), re.M))
        self.assertEqual(options, {"--out", "--config", "--types", "--seeds", "--set", "--bin", "--jobs", "--help"})
        for flag in ("--help", "-h"):
            r = subprocess.run([SWEEP, flag], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr, "")
            self.assertTrue(r.stdout.startswith("Usage: scripts/sweep.sh --out DIR --config CFG"), r.stdout)
            for option in options:
                self.assertRegex(r.stdout, r"\n  (-h, )?%s\b" % option)
            self.assertIn("(default: residual,hc,mhc)", r.stdout)
            self.assertIn("(default: 1,2,3)", r.stdout)
            self.assertIn("(default: 1)", r.stdout)
            self.assertRegex(r.stdout, r"Example.*:\n  scripts/sweep.sh --out \S+ --config configs/tiny-mhc.json")

    def test_usage_errors(self):
        cases = [
            (("--types", "resid"), {}, "unknown residual type 'resid'"),
            (("--seeds", "1,x"), {}, "'x' is not a non-negative integer"),
            (("--seeds", "1,1"), {}, "lists a seed twice"),
            (("--jobs", "0"), {}, "--jobs must be a positive integer"),
            (("--set", "train.seed=3"), {}, "use --seeds"),
            (("--set", "residual.type=hc"), {}, "use --types"),
            (("--set", "lr"), {}, "expected section.key=value"),
            (("--set", "train.1lr=1"), {}, "expected section.key=value"),
            (("--bogus",), {}, "unknown argument '--bogus'"),
            ((), {"config": "/nonexistent.json"}, "config file '/nonexistent.json' not found"),
            ((), {"bin_path": "/nonexistent/mhc-train"}, "is not an executable file"),
        ]
        for args, kw, message in cases:
            with self.subTest(args=args, kw=kw):
                r = self.sweep(*args, **kw)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertIn("Usage: scripts/sweep.sh", r.stderr)
                self.assertIn(message, r.stderr)
        r = subprocess.run([SWEEP, "--config", CONFIG], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--out DIR is required", r.stderr)
        self.assertEqual(self.called(), [])


class ConfigsTest(unittest.TestCase):
    """The arms of each shipped comparison differ only in their residual section; single-arm configs are
    parallel-layout examples."""

    def test_arms_differ_only_in_residual(self):
        families = {}
        for name in sorted(os.listdir(os.path.join(ROOT, "configs"))):
            family, _, arm = name[:-len(".json")].rpartition("-")
            if name.endswith(".json") and arm in ("residual", "hc", "mhc"):
                with open(os.path.join(ROOT, "configs", name)) as f:
                    config = json.load(f)
                self.assertEqual(config["residual"]["type"], arm, name)
                families.setdefault(family, {})[arm] = config
        for family in ("tiny", "shakespeare-char", "gpt2-124m"):
            self.assertIn(family, families)
        for family, arms in families.items():
            if len(arms) == 1:  # a single-arm example of a parallel layout (pp2-1f1b-mhc, dp2-pp2-mhc, ...)
                parallel = next(iter(arms.values())).get("parallel", {})
                self.assertGreater(parallel.get("pp", 1) * parallel.get("dp", 1), 1, family)
                continue
            stripped = [{k: v for k, v in c.items() if k != "residual"} for c in arms.values()]
            for arm, other in zip(arms, stripped):
                self.assertEqual(other, stripped[0], f"{family}-{arm} differs outside 'residual'")


if __name__ == "__main__":
    unittest.main()
