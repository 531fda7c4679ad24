"""The interpreter check of the scripts that need numpy or matplotlib, run after their arguments are parsed (so
--help works anywhere): a python3 that lacks a module hands the run over to Debian's /usr/bin/python3 when that
one has them all, else the script stops with one error naming the missing modules and their Debian packages."""
import importlib
import os
import subprocess
import sys

SYSTEM_PYTHON = "/usr/bin/python3"


def unimportable(modules):
    """The modules of `modules` this interpreter cannot import."""
    absent = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            absent.append(name)
    return absent


def require(script, modules, argv):
    """Returns when this interpreter imports every module; else runs `script argv` under /usr/bin/python3 in this
    process when that interpreter imports them all, else exits 1 with the error."""
    absent = unimportable(modules)
    if not absent:
        return
    try_system = os.path.abspath(sys.executable) != SYSTEM_PYTHON and os.access(SYSTEM_PYTHON, os.X_OK)
    if try_system and subprocess.run([SYSTEM_PYTHON, "-c", "import " + ", ".join(modules)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON, os.path.abspath(script), *argv])
    packages = " ".join("python3-" + name for name in modules)  # Debian's names: python3-numpy, ...
    also = f" (nor can {SYSTEM_PYTHON})" if try_system else ""
    sys.exit(f"{os.path.basename(script)}: needs {', '.join(modules)}; {sys.executable} cannot import "
             f"{', '.join(absent)}{also}. Install them (Debian: apt-get install {packages}) or run the script with "
             f"a python3 that has them.")
