#!/usr/bin/env python3
"""Tests of scripts/bench_torch.py, the PyTorch peer of `mhc-train bench step`: its parameter counts equal those of
`mhc-train plan`, its loss on mhc-train checkpoints agrees with `mhc-train eval`'s (and the check notices a model that
differs), and the benchmark prints its JSON fields. Skipped when this python3 cannot import torch and numpy (CI).
Usage: test_bench_torch.py MHC_TRAIN"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCRIPT = os.path.join(ROOT, "scripts", "bench_torch.py")
sys.path.insert(0, os.path.join(ROOT, "scripts", "lib"))
import model_cost  # noqa: E402

spec = importlib.util.spec_from_file_location("bench_torch", SCRIPT)
bench_torch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_torch)

BIN = None  # set from the command line
# Loss tolerance of the checkpoint check. f32 round-off of the logits is about 1e-7 per token and averages out over
# the 1024 tokens of the batch: the measured differences are 5e-9 to 2e-8 (every checkpoint below). The smallest
# deliberate model changes measured on the "mhc far" checkpoint move the loss by 1.1e-6 (19 instead of 20 Sinkhorn
# iterations), 3.6e-6 (rows normalised before columns) and 7.7e-6 (RMS eps 1e-5); H_res transposed by 3.4e-3. 1e-6
# lies 50 times above the round-off and below every one of them.
TOLERANCE = 1e-6
# Checkpoints trained for the check: name -> (config, overrides). "far" moves the mHC connections away from the
# near-identity default init (bias +-3), so that Sinkhorn and the H_res convention change the loss measurably.
CHECKPOINTS = {
    "residual": ("tiny-residual.json", []),
    "hc": ("tiny-hc.json", []),
    "mhc": ("tiny-mhc.json", []),
    "mhc far": ("tiny-mhc.json", ["residual.alpha_init=1", "residual.bias_init=zero"]),
    "hc gate tied": ("tiny-hc.json", ["residual.head_merge=gate", "model.tie_embeddings=true"]),
}
TRAIN_STEPS = 8


def run(cmd):
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


@unittest.skipIf(bench_torch.MISSING_MODULE is not None,
                 f"{sys.executable} cannot import {bench_torch.MISSING_MODULE} (pip install torch numpy)")
class BenchTorchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="bench-torch-test-")
        cls.runs = {}
        for name, (config, sets) in CHECKPOINTS.items():
            out = os.path.join(cls.tmp, name.replace(" ", "-"))
            cmd = [BIN, "train", "--config", os.path.join("configs", config), "--set", f"train.steps={TRAIN_STEPS}",
                   "--set", "train.warmup=0", "--set", "train.eval_every=0", "--set", "train.eval_batches=1",
                   "--out", out]
            r = run(cmd + [word for item in sets for word in ("--set", item)])
            if r.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr[-2000:]}")
            cls.runs[name] = out

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def plan_total(self, config, changes):
        """The parameter total `mhc-train plan` prints for configs/CONFIG with {section: {key: value}} changes."""
        with open(os.path.join(ROOT, "configs", config), encoding="utf-8") as f:
            doc = json.load(f)
        for section, keys in changes.items():
            doc.setdefault(section, {}).update(keys)
        path = os.path.join(self.tmp, "plan.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f)
        return model_cost.plan_parameters(BIN, path)["total"], doc

    def test_parameter_counts_equal_plan(self):
        variants = [("tiny-residual.json", {}), ("tiny-hc.json", {}), ("tiny-mhc.json", {}),
                    ("tiny-residual.json", {"model": {"tie_embeddings": True}}),
                    ("tiny-hc.json", {"residual": {"head_merge": "gate", "n_streams": 3}}),
                    ("tiny-mhc.json", {"residual": {"head_merge": "gate"}, "model": {"tie_embeddings": True}})]
        for config, changes in variants:
            with self.subTest(config=config, changes=changes):
                expected, doc = self.plan_total(config, changes)
                model = bench_torch.Transformer(bench_torch.resolve_config(doc, [], config))
                self.assertEqual(bench_torch.parameter_count(model), expected)
        self.assertEqual(self.plan_total("tiny-mhc.json", {})[0], 968024)  # the count the issue quotes

    def test_checkpoint_loss_agrees_with_mhc_train_eval(self):
        for name, out in self.runs.items():
            with self.subTest(checkpoint=name):
                # the run directory, and for one of them its model.safetensors file
                path = out if name != "mhc" else os.path.join(bench_torch.checkpoint_dir(out), "model.safetensors")
                r = run([sys.executable, SCRIPT, "--check-checkpoint", path, "--mhc-train", BIN,
                         "--tolerance", str(TOLERANCE)])
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                result = json.loads(r.stdout)
                self.assertTrue(result["ok"])
                self.assertEqual(result["step"], TRAIN_STEPS)
                self.assertEqual(result["tokens"], 8 * 128)
                self.assertLessEqual(result["abs_diff"], TOLERANCE)
                self.assertGreater(result["mhc_train_loss"], 0.0)

    def test_check_notices_a_different_model(self):
        # The "mhc far" checkpoint evaluated with 1 Sinkhorn iteration instead of the trained model's 20.
        ck = bench_torch.checkpoint_dir(self.runs["mhc far"])
        with open(os.path.join(ck, "state.json"), encoding="utf-8") as f:
            cfg = bench_torch.resolve_config(json.load(f)["config"], ["residual.sinkhorn_iters=1"], "state.json")
        model = bench_torch.Transformer(cfg)
        bench_torch.load_weights(model, bench_torch.read_safetensors(os.path.join(ck, "model.safetensors")), ck)
        token_file = os.path.join(self.tmp, "tokens.bin")
        tokens = bench_torch.write_check_tokens(token_file, cfg, 8 * 128 + 1, seed=1)
        reference = bench_torch.mhc_train_eval(BIN, ck, token_file, [])["loss"]
        self.assertGreater(abs(bench_torch.torch_window_loss(model, tokens, 128, 8) - reference), 100 * TOLERANCE)

    def test_benchmark_prints_its_json(self):
        r = run([sys.executable, SCRIPT, "--config", "configs/tiny-mhc.json", "--set", "model.n_blocks=1",
                 "--steps", "2", "--threads", "1"])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        for key in ("step_ms_median", "step_cpu_ms_median", "tok_s", "tokens_per_step", "torch", "threads", "compile",
                    "d_model", "n_streams", "residual", "cpu", "parameters", "steps_timed"):
            self.assertIn(key, out)
        self.assertEqual((out["residual"], out["n_streams"], out["d_model"]), ("mhc", 4, 128))
        self.assertEqual((out["threads"], out["compile"], out["steps_timed"]), (1, False, 2))
        self.assertEqual(out["tokens_per_step"], 8 * 128)
        self.assertAlmostEqual(out["tok_s"], out["tokens_per_step"] / out["step_ms_median"] * 1e3)
        self.assertGreater(out["step_ms_median"], 0.0)

    def test_unknown_key_is_refused(self):
        r = run([sys.executable, SCRIPT, "--set", "model.nblocks=6", "--steps", "1"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("model.nblocks=6", r.stderr)


if __name__ == "__main__":
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        sys.exit("usage: test_bench_torch.py MHC_TRAIN (the built binary)")
    BIN = os.path.abspath(sys.argv.pop(1))
    unittest.main()
