"""Runs an example script's --quick mode in a fresh interpreter and returns the metrics of its
`RESULT name=value ...` line (every example ends with one). Used by tests/test_examples*.py."""
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ember

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def require(*modules):
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"example needs {', '.join(missing)} (pip install '.[examples]')")


def run_example(script, tmp_path, *args, timeout=300):
    """Runs examples/<script> --quick in tmp_path and returns the RESULT fields as floats."""
    env = dict(os.environ)
    # The child must import the same ember as this process, wherever it came from.
    ember_root = str(Path(ember.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ember_root, env.get("PYTHONPATH")) if p)
    env["MPLBACKEND"] = "Agg"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--quick", "--seed", "0", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert lines, f"{script} printed no RESULT line:\n{proc.stdout}"
    return {k: float(v) for k, v in re.findall(r"(\w+)=([-+0-9.eE]+)", lines[-1])}, proc.stdout
