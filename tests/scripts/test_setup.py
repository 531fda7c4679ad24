#!/usr/bin/env python3
"""Tests of what scripts/demo.sh and scripts/test.sh build (scripts/lib/setup.sh), with fake cmake, ctest and
dpkg-query on PATH that record their arguments (standard library only)."""
import os
import shutil
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(os.path.dirname(os.path.dirname(HERE)), "scripts")

FAKE_TOOL = """#!/bin/sh
echo "$(basename "$0") $*" >>"$FAKE_LOG"
"""
FAKE_DPKG_QUERY = """#!/bin/sh
printf 'install ok installed'
"""


class BuildTargetsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="setup-test-")
        self.build = os.path.join(self.tmp, "build")
        self.log = os.path.join(self.tmp, "log")
        fake_bin = os.path.join(self.tmp, "bin")
        os.makedirs(fake_bin)
        for name, text in (("cmake", FAKE_TOOL), ("ctest", FAKE_TOOL), ("dpkg-query", FAKE_DPKG_QUERY)):
            path = os.path.join(fake_bin, name)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o755)
        self.sim = os.path.join(self.tmp, "build-sim")
        self.env = dict(os.environ, PATH=fake_bin + os.pathsep + os.environ["PATH"], MHC_BUILD=self.build,
                        MHC_SIM_BUILD=self.sim, FAKE_LOG=self.log)
        self.env.pop("MHC_SKIP_SIM", None)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def calls(self, script):
        """The cmake/ctest command lines after the configure step of `script -DMHC_X=1`, which must pass the option
        on (the demo stops at the missing trainer)."""
        subprocess.run([os.path.join(SCRIPTS, script), "-DMHC_X=1"], env=self.env, capture_output=True, timeout=60)
        with open(self.log) as f:
            calls = f.read().splitlines()
        self.assertRegex(calls[0], f"^cmake -S .* -B {self.build} .*-DCMAKE_BUILD_TYPE=Release -DMHC_X=1$")
        return calls[1:]

    def test_demo_builds_the_app_only(self):
        self.assertEqual(self.calls("demo.sh")[0], f"cmake --build {self.build} -j2 --target mhc-train")

    def test_test_builds_everything_then_the_simulator_build(self):
        root = os.path.dirname(SCRIPTS)
        self.assertEqual(self.calls("test.sh"), [
            f"cmake --build {self.build} -j2",
            f"ctest --test-dir {self.build} --output-on-failure -j1",
            f"cmake -S {root} -B {self.sim} -G Ninja -DCMAKE_BUILD_TYPE=Release -DMHC_CUDA=SIM -DMHC_SANITIZE=ON",
            f"cmake --build {self.sim} -j2 --target mhc_cuda_tests mhc_cuda_sim_tests mhc_cuda_sim_oob",
            f"ctest --test-dir {self.sim} -L cuda_sim --output-on-failure -j2"])

    def test_test_skips_the_simulator_build_when_asked(self):
        self.env["MHC_SKIP_SIM"] = "1"
        self.assertEqual(self.calls("test.sh"), [f"cmake --build {self.build} -j2",
                                                 f"ctest --test-dir {self.build} --output-on-failure -j1"])


if __name__ == "__main__":
    unittest.main()
