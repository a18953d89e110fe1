"""The lesson scripts run as a reader runs them, ``python lessons/<script>.py``, in subprocesses on the CPU.

``lesson`` runs one script (and fails with its output when it fails);
``run_tiny`` runs the whole tiny configuration with run_all.py, for a module's
``tiny_run`` fixture.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LESSONS = os.path.join(ROOT, "lessons")


def lesson(script, *args, cwd=ROOT, check=True):
    env = dict(os.environ, TINYUNET_DEVICE="cpu")
    result = subprocess.run([sys.executable, os.path.join(LESSONS, script), *map(str, args)], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=300)
    if check and result.returncode:
        raise AssertionError(f"{script} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def run_tiny(tmp_path_factory):
    """One whole tiny run by run_all.py into a fresh folder: the folder and what run_all printed."""
    folder = tmp_path_factory.mktemp("runs") / "tiny"
    result = lesson("run_all.py", "--config", "tiny", "--out", folder)
    return folder, result.stdout
