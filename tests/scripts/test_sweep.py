#!/usr/bin/env python3
"""Tests of scripts/sweep.sh against tests/scripts/fake_trainer.sh (standard library only)."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
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

    def env(self, fail="", short="", stop="", wait="", notrap="", types=""):
        return dict(os.environ, MHC_PYTHON=sys.executable, FAKE_CALLS=self.calls, FAKE_FAIL=fail, FAKE_SHORT=short,
                    FAKE_STOP=stop, FAKE_WAIT=wait, FAKE_NOTRAP=notrap, FAKE_TYPES=types)

    def cmd(self, args, config=CONFIG, bin_path=FAKE):
        return [SWEEP, "--out", self.out, "--config", config, "--bin", bin_path, *args]

    def sweep(self, *args, config=CONFIG, bin_path=FAKE, **fake):
        return subprocess.run(self.cmd(args, config, bin_path), env=self.env(**fake), capture_output=True, text=True,
                              timeout=120)

    def called(self):
        """The fake's calls, sorted: a run name, or 'NAME --resume'."""
        if not os.path.exists(self.calls):
            return []
        with open(self.calls) as f:
            return sorted(f.read().splitlines())

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

    def test_types_come_from_the_trainer(self):
        # A trainer with two more types: an n-stream one and a single-stream one (default n_streams 1).
        types = "mhc_new 4\nplain 1"
        r = self.sweep("--types", "mhc_new,plain", "--seeds", "1", "--set", "residual.n_streams=2", types=types)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.sets("mhc_new-s1"), ["residual.type=mhc_new", "residual.n_streams=2", "train.seed=1",
                                                   "residual.n_streams=2"])
        self.assertEqual(self.sets("plain-s1"), ["residual.type=plain", "residual.n_streams=1", "train.seed=1"])
        r = self.sweep("--types", "mhc_new", "--seeds", "1")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown residual type 'mhc_new' (residual, hc, mhc)", r.stderr)

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
            self.assertIn("3 stopped by a signal", r.stdout)
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


class SweepStopTest(unittest.TestCase):
    """Clean stops: the trainer's stopped.json, signals to sweep.sh (forwarded once) and to a trainer directly,
    and reruns that resume. The tests wait for states the fake writes (DIR/fake.pid, DIR/signals, sweep's output),
    each with a bounded timeout, never for a fixed time."""

    TIMEOUT = 30

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sweep-stop-test-")
        self.out = os.path.join(self.tmp, "sweep")
        self.calls = os.path.join(self.tmp, "calls")
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for name in os.listdir(self.out) if os.path.isdir(self.out) else []:
            pid = self.read(name, "fake.pid")
            if pid:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        shutil.rmtree(self.tmp)

    env = SweepTest.env
    cmd = SweepTest.cmd
    sweep = SweepTest.sweep
    called = SweepTest.called

    def start(self, *args, new_session=False, **fake):
        """sweep.sh in the background; its stdout and stderr go to files (self.stdout(), self.stderr())."""
        self.out_file = os.path.join(self.tmp, "sweep.stdout")
        self.err_file = os.path.join(self.tmp, "sweep.stderr")
        with open(self.out_file, "w") as o, open(self.err_file, "w") as e:
            p = subprocess.Popen(self.cmd(args), env=self.env(**fake), stdout=o, stderr=e,
                                 start_new_session=new_session)
        self.procs.append(p)
        return p

    def stdout(self):
        with open(self.out_file) as f:
            return f.read()

    def stderr(self):
        with open(self.err_file) as f:
            return f.read()

    def read(self, run, name):
        path = os.path.join(self.out, run, name)
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return f.read()

    def wait_until(self, what, check):
        deadline = time.monotonic() + self.TIMEOUT
        while not check():
            if time.monotonic() > deadline:
                self.fail(f"timed out waiting for {what}")
            time.sleep(0.05)

    def wait_running(self, *runs):
        for run in runs:
            self.wait_until(f"{run}/fake.pid", lambda: self.read(run, "fake.pid"))
        return [int(self.read(run, "fake.pid")) for run in runs]

    def finish(self, p):
        try:
            return p.wait(timeout=self.TIMEOUT)
        except subprocess.TimeoutExpired:
            self.fail("sweep.sh did not exit; stdout:\n" + self.stdout() + "\nstderr:\n" + self.stderr())

    def steps(self, run):
        with open(os.path.join(self.out, run, "metrics.jsonl")) as f:
            return [json.loads(line)["step"] for line in f]

    def stopped(self, run):
        text = self.read(run, "stopped.json")
        return None if text is None else json.loads(text)

    def assert_resumed_and_complete(self, r, runs):
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for run in runs:
            self.assertRegex(r.stdout, r"ok +%s +5 steps in \d+s \(resumed at step \d\)" % run)
            self.assertEqual(self.steps(run), [1, 2, 3, 4, 5])
            self.assertIsNone(self.stopped(run))
            log = self.read(run, "train.log")
            self.assertIn("training %s" % run, log)  # the first launch's output is kept
            self.assertIn("sweep.sh: resuming at step", log)
            self.assertIn("resuming %s" % run, log)

    def test_stopped_run_is_not_a_failure_and_a_rerun_resumes_it(self):
        r = self.sweep("--seeds", "1,2", stop="hc-s1")
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"stop +hc-s1 +stopped at step 3 of 5 after \d+s; a rerun resumes it")
        self.assertNotIn("FAIL", r.stdout)
        self.assertEqual(self.stopped("hc-s1")["step"], 3)
        # a trainer stopped on a signal of its own: no further cells start
        self.assertEqual(self.called(), ["hc-s1", "residual-s1", "residual-s2"])
        self.assertIn("hc-s1 stopped on a signal sent to it directly; no further runs start", r.stderr)
        self.assertIn("1 runs stopped (hc-s1), 3 not started; rerun the same command to resume", r.stderr)
        args = self.read("hc-s1", "sweep.args")
        os.remove(self.calls)
        r = self.sweep("--seeds", "1,2")
        self.assert_resumed_and_complete(r, ["hc-s1"])
        self.assertEqual(self.called(), ["hc-s1 --resume", "hc-s2", "mhc-s1", "mhc-s2"])
        self.assertEqual(r.stdout.count("skip "), 2)
        self.assertEqual(self.read("hc-s1", "sweep.args"), args)
        os.remove(self.calls)
        self.assertEqual(self.sweep("--seeds", "1,2").returncode, 0)
        self.assertEqual(self.called(), [])

    def test_stopped_run_with_other_arguments_is_kept(self):
        self.assertEqual(self.sweep("--types", "hc", "--seeds", "1", stop="hc-s1").returncode, 3)
        r = self.sweep("--types", "hc", "--seeds", "1", "--set", "train.lr=1")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"FAIL +hc-s1 +stopped at step 3 with other arguments")
        self.assertEqual(self.stopped("hc-s1")["step"], 3)
        self.assertEqual(self.called(), ["hc-s1"])

    def test_failed_resume_keeps_the_stopped_run(self):
        self.assertEqual(self.sweep("--types", "hc", "--seeds", "1", stop="hc-s1").returncode, 3)
        r = self.sweep("--types", "hc", "--seeds", "1", fail="hc-s1")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"FAIL +hc-s1 +exit 3 after \d+s \(resumed at step 3\)")
        self.assertIn("| fake: cannot read the checkpoint", r.stdout)
        self.assertIn("stopped.json remains: a rerun tries to resume it again", r.stdout)
        self.assertEqual(self.stopped("hc-s1")["step"], 3)
        r = self.sweep("--types", "hc", "--seeds", "1")
        self.assert_resumed_and_complete(r, ["hc-s1"])
        self.assertEqual(self.called(), ["hc-s1", "hc-s1 --resume", "hc-s1 --resume"])

    def test_sigterm_to_sweep_is_forwarded_once(self):
        p = self.start("--types", "residual,hc,mhc", "--seeds", "1", wait="hc-s1")
        (fake,) = self.wait_running("hc-s1")
        p.send_signal(signal.SIGTERM)
        p.send_signal(signal.SIGTERM)  # a second one is not forwarded
        self.assertEqual(self.finish(p), 3, self.stdout() + self.stderr())
        self.assertEqual(self.read("hc-s1", "signals"), "TERM\n")
        self.assertEqual(self.stopped("hc-s1")["step"], 3)  # sweep.sh waited for the checkpoint
        self.assertEqual(self.steps("hc-s1"), [1, 2, 3])
        self.assertEqual(self.called(), ["hc-s1", "residual-s1"])  # mhc-s1 never started
        self.assertFalse(os.path.exists(os.path.join(self.out, "mhc-s1")))
        self.assertRegex(self.stdout(), r"ok +residual-s1 ")
        self.assertRegex(self.stdout(), r"stop +hc-s1 +stopped at step 3 of 5 after \d+s; a rerun resumes it")
        err = self.stderr()
        self.assertIn("sweep: SIGTERM: forwarded SIGTERM to the running trainers (hc-s1)", err)
        self.assertIn("sweep: stopped (SIGTERM): 1 runs stopped (hc-s1), 1 not started; rerun the same command", err)
        os.remove(self.calls)
        r = self.sweep("--types", "residual,hc,mhc", "--seeds", "1")
        self.assert_resumed_and_complete(r, ["hc-s1"])
        self.assertEqual(self.called(), ["hc-s1 --resume", "mhc-s1"])
        self.assertRegex(r.stdout, r"skip +residual-s1 +complete \(step 5\)")

    def test_sigusr1_to_sweep_is_forwarded_as_sigusr1(self):
        # SIGUSR1 is the stop signal that mpirun forwards at once (README, Signals): a --bin wrapping mpirun gets it
        p = self.start("--types", "mhc", "--seeds", "1,2", wait="mhc-s1")
        self.wait_running("mhc-s1")
        p.send_signal(signal.SIGUSR1)
        self.assertEqual(self.finish(p), 3, self.stdout() + self.stderr())
        self.assertEqual(self.read("mhc-s1", "signals"), "USR1\n")
        self.assertEqual(self.stopped("mhc-s1")["step"], 3)
        self.assertEqual(self.called(), ["mhc-s1"])
        os.remove(self.calls)
        self.assert_resumed_and_complete(self.sweep("--types", "mhc", "--seeds", "1,2"), ["mhc-s1"])
        self.assertEqual(self.called(), ["mhc-s1 --resume", "mhc-s2"])

    def test_ctrl_c_with_two_jobs(self):
        # a Ctrl-C in a terminal signals the whole foreground process group: the trainers run in their own
        # groups, so each gets exactly one SIGINT, the one sweep.sh forwards
        p = self.start("--types", "hc,mhc", "--seeds", "1,2", "--jobs", "2", new_session=True, wait="hc-s1 hc-s2")
        self.wait_running("hc-s1", "hc-s2")
        os.killpg(p.pid, signal.SIGINT)
        self.assertEqual(self.finish(p), 3, self.stdout() + self.stderr())
        for run in ("hc-s1", "hc-s2"):
            self.assertEqual(self.read(run, "signals"), "INT\n")
            self.assertEqual(self.stopped(run)["step"], 3)
            self.assertRegex(self.stdout(), r"stop +%s +stopped at step 3 of 5" % run)
        self.assertEqual(self.called(), ["hc-s1", "hc-s2"])
        self.assertIn("sweep: stopped (SIGINT): 2 runs stopped", self.stderr())
        self.assertIn("2 not started", self.stderr())
        os.remove(self.calls)
        r = self.sweep("--types", "hc,mhc", "--seeds", "1,2", "--jobs", "2")
        self.assert_resumed_and_complete(r, ["hc-s1", "hc-s2"])
        self.assertEqual(self.called(), ["hc-s1 --resume", "hc-s2 --resume", "mhc-s1", "mhc-s2"])

    def test_trainer_signalled_directly_with_two_jobs(self):
        p = self.start("--types", "residual,hc", "--seeds", "1,2", "--jobs", "2", wait="residual-s1 residual-s2")
        first, second = self.wait_running("residual-s1", "residual-s2")
        os.kill(first, signal.SIGTERM)
        self.wait_until("sweep.sh's report of residual-s1", lambda: "stop  residual-s1" in self.stdout())
        self.assertIn("residual-s1 stopped on a signal sent to it directly; no further runs start "
                      "(1 running ones go on to their end)", self.stderr())
        self.assertIsNone(p.poll())  # it waits for residual-s2, which it does not signal
        self.assertIsNone(self.read("residual-s2", "signals"))
        os.kill(second, signal.SIGTERM)
        self.assertEqual(self.finish(p), 3, self.stdout() + self.stderr())
        self.assertEqual(self.called(), ["residual-s1", "residual-s2"])  # hc-* never started
        for run in ("residual-s1", "residual-s2"):
            self.assertEqual(self.read(run, "signals"), "TERM\n")
            self.assertEqual(self.stopped(run)["step"], 3)
        self.assertIn("sweep: stopped (a trainer was signalled directly): 2 runs stopped", self.stderr())
        os.remove(self.calls)
        r = self.sweep("--types", "residual,hc", "--seeds", "1,2", "--jobs", "2")
        self.assert_resumed_and_complete(r, ["residual-s1", "residual-s2"])
        self.assertEqual(self.called(), ["hc-s1", "hc-s2", "residual-s1 --resume", "residual-s2 --resume"])

    def test_trainer_ended_by_the_forwarded_signal_restarts(self):
        # a signal that reaches the trainer before it installed its handler ends it without stopped.json
        p = self.start("--types", "mhc", "--seeds", "1,2", wait="mhc-s1", notrap="mhc-s1")
        self.wait_running("mhc-s1")
        p.send_signal(signal.SIGTERM)
        self.assertEqual(self.finish(p), 3, self.stdout() + self.stderr())
        self.assertRegex(self.stdout(), r"stop +mhc-s1 +ended by the forwarded SIGTERM before it could write a "
                                        r"checkpoint; a rerun starts it again")
        self.assertNotIn("FAIL", self.stdout())
        self.assertIsNone(self.stopped("mhc-s1"))
        self.assertEqual(self.called(), ["mhc-s1"])
        os.remove(self.calls)
        r = self.sweep("--types", "mhc", "--seeds", "1,2")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.called(), ["mhc-s1", "mhc-s2"])  # from scratch, not --resume
        self.assertEqual(self.steps("mhc-s1"), [1, 2, 3, 4, 5])


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
