#!/usr/bin/env python3
"""Tests of the scripts that need numpy or matplotlib under a python3 without them (scripts/lib/python_deps.py):
--help works, a run hands over to /usr/bin/python3 when that one has the modules, else one clear error. Standard
library only: a fake numpy and matplotlib on PYTHONPATH, or a venv, make the interpreter that lacks them."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(os.path.dirname(os.path.dirname(HERE)), "scripts")
COMPARE = os.path.join(SCRIPTS, "compare.py")
BENCH = os.path.join(SCRIPTS, "bench_numpy_sgemm.py")
SYSTEM_PYTHON = "/usr/bin/python3"


def system_python_has(modules):
    return os.access(SYSTEM_PYTHON, os.X_OK) and subprocess.run(
        [SYSTEM_PYTHON, "-c", "import " + ", ".join(modules)], capture_output=True).returncode == 0


class WithoutNumpyTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="python-deps-test-")
        # numpy and matplotlib that fail to import, first on the path of every interpreter started with this env
        self.fake = os.path.join(self.tmp, "fake")
        for name in ("numpy", "matplotlib"):
            os.makedirs(os.path.join(self.fake, name))
            with open(os.path.join(self.fake, name, "__init__.py"), "w") as f:
                f.write(f"raise ImportError('fake: no {name}')\n")
        self.env = dict(os.environ, PYTHONPATH=self.fake, MPLBACKEND="Agg")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def run_script(self, python, script, *args, env=None):
        return subprocess.run([python, script, *args], capture_output=True, text=True, timeout=120,
                              env=env or self.env)

    def test_help_needs_no_numpy(self):
        for script, option in ((COMPARE, "--metric"), (BENCH, "--sizes")):
            with self.subTest(script=os.path.basename(script)):
                r = self.run_script(sys.executable, script, "--help")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("usage: ", r.stdout)
                self.assertIn(option, r.stdout)
                self.assertEqual(r.stderr, "")

    def test_missing_modules_are_one_clear_error(self):
        # the fake modules are on PYTHONPATH for /usr/bin/python3 too, so no interpreter has them
        cases = ((COMPARE, (self.tmp,), "compare.py: needs numpy, matplotlib", "python3-numpy python3-matplotlib"),
                 (BENCH, ("--sizes", "8"), "bench_numpy_sgemm.py: needs numpy", "apt-get install python3-numpy"))
        for script, args, needs, packages in cases:
            with self.subTest(script=os.path.basename(script)):
                r = self.run_script(sys.executable, script, *args)
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertEqual(r.stdout, "")
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
                self.assertTrue(r.stderr.startswith(needs), r.stderr)
                self.assertIn(f"{sys.executable} cannot import numpy", r.stderr)
                self.assertIn(packages, r.stderr)

    @unittest.skipUnless(system_python_has(["numpy", "matplotlib"]), f"{SYSTEM_PYTHON} lacks numpy or matplotlib")
    def test_hands_over_to_system_python(self):
        venv = os.path.join(self.tmp, "venv")  # a python3 without the system's site-packages: no numpy
        subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--without-pip", venv], check=True, capture_output=True)
        python = os.path.join(venv, "bin", "python3")
        env = dict(os.environ, MPLBACKEND="Agg")
        env.pop("PYTHONPATH", None)
        self.assertNotEqual(subprocess.run([python, "-c", "import numpy"], capture_output=True, env=env).returncode, 0)

        r = self.run_script(python, BENCH, "--sizes", "8", "--repeats", "1", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('"matmul_f32"', r.stdout)
        empty = os.path.join(self.tmp, "empty")
        os.makedirs(empty)
        r = self.run_script(python, COMPARE, empty, env=env)  # compare.py's own error: it ran, under /usr/bin/python3
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("compare.py: no runs found under", r.stderr)


if __name__ == "__main__":
    unittest.main()
