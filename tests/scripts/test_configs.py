#!/usr/bin/env python3
"""Every shipped config runs from the repository root as documented: `plan` succeeds (and compare.py reads its
parameter counts), and 2 training steps succeed, with mpirun for the multi-rank configs.
Usage: test_configs.py MHC_TRAIN. The gpt2-124m configs only run plan: they train on CUDA with FineWeb token shards
that are not shipped, and even 2 CPU steps of their 16 x 32 x 1024-token batches would take far too long here."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts", "lib"))
import model_cost  # noqa: E402

BIN = None  # set from the command line
PLAN_ONLY = ("gpt2-124m-",)
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMP_NUM_THREADS": "1"}


def configs():
    return sorted(name for name in os.listdir(os.path.join(ROOT, "configs")) if name.endswith(".json"))


def load(name):
    with open(os.path.join(ROOT, "configs", name), encoding="utf-8") as f:
        return json.load(f)


class ConfigsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="configs-test-")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_plan(self):
        for name in configs():
            with self.subTest(config=name):
                path = os.path.join("configs", name)
                r = subprocess.run([BIN, "plan", "--config", path], cwd=ROOT, capture_output=True, text=True,
                                   timeout=120)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("\nlaunch: ", r.stdout)
                counts = model_cost.plan_parameters(BIN, os.path.join(ROOT, path))
                self.assertGreater(counts["total"], counts["embedding"])

    def test_tiny_parameter_count_by_hand(self):
        # embedding 256 x 128, per block attention 4 x 128^2 + MLP 3 x 128 x 352 + 2 norms of 128, final norm 128,
        # head 256 x 128: 32768 + 4 x 200960 + 128 + 32768
        counts = model_cost.plan_parameters(BIN, os.path.join(ROOT, "configs", "tiny-residual.json"))
        self.assertEqual(counts["total"], 869504)
        self.assertEqual(model_cost.non_embedding(counts), 869504 - 2 * 32768)

    def test_data_files_are_shipped(self):
        for name in configs():
            data = load(name).get("data", {})
            if data.get("source") == "text":
                with self.subTest(config=name):
                    inside = not os.path.isabs(data["path"]) and not os.path.normpath(data["path"]).startswith("..")
                    self.assertTrue(inside, f"{data['path']}: a shipped config's data must be in the repository")
                    self.assertTrue(os.path.isfile(os.path.join(ROOT, data["path"])), data["path"])

    def test_two_training_steps(self):
        for name in configs():
            if name.startswith(PLAN_ONLY):
                continue
            with self.subTest(config=name):
                parallel = load(name).get("parallel", {})
                ranks = parallel.get("pp", 1) * parallel.get("dp", 1)
                out = os.path.join(self.tmp, name[:-len(".json")])
                cmd = [BIN, "train", "--config", os.path.join("configs", name), "--set", "train.steps=2",
                       "--set", "train.warmup=0", "--set", "train.eval_batches=1", "--out", out]
                env = dict(os.environ)
                if ranks > 1:
                    mpirun = shutil.which("mpirun")
                    if mpirun is None:
                        self.skipTest(f"{name}: needs mpirun -np {ranks}")
                    cmd = [mpirun, "-np", str(ranks), "--oversubscribe"] + cmd
                    env.update(MPI_ENV)
                r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
                self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
                with open(os.path.join(out, "metrics.jsonl"), encoding="utf-8") as f:
                    records = [json.loads(line) for line in f if line.strip()]
                self.assertEqual(records[-1]["step"], 2)
                self.assertGreater(records[-1]["val_loss"], 0.0)


if __name__ == "__main__":
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        sys.exit("usage: test_configs.py MHC_TRAIN (the built binary)")
    BIN = os.path.abspath(sys.argv.pop(1))
    unittest.main()
