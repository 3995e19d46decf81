"""The example scripts' --quick modes, each run in a fresh interpreter, asserting on the metric it prints.

Every example ends with a line `RESULT name=value ...`; these tests parse it. Selected with
`-m examples`; a script whose optional dependency (scikit-learn, matplotlib, tqdm) is missing
is skipped rather than failed.
"""
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ember

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

pytestmark = pytest.mark.examples


HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def _require(*modules):
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


def test_xor_quick_gets_all_four_right(tmp_path):
    result, _ = run_example("xor.py", tmp_path)
    assert result["accuracy"] == 1.0
    assert result["loss"] < 0.05


def test_spiral_quick_separates_the_three_arms(tmp_path):
    result, _ = run_example("spiral.py", tmp_path, "--out", str(tmp_path))
    assert result["accuracy"] >= 0.95
    if HAVE_MATPLOTLIB:  # the figure is optional; the script says so and carries on without it
        assert (tmp_path / "spiral.png").stat().st_size > 0


def test_regression_quick_gradient_descent_matches_normal_equations(tmp_path):
    result, _ = run_example("regression.py", tmp_path, "--out", str(tmp_path))
    assert result["max_abs_diff"] < 1e-4
    if HAVE_MATPLOTLIB:  # the figure is optional; the script says so and carries on without it
        assert (tmp_path / "regression.png").stat().st_size > 0


def test_digits_mlp_quick_learns_digits(tmp_path):
    _require("sklearn")
    result, _ = run_example("digits_mlp.py", tmp_path, "--out", str(tmp_path))
    assert result["accuracy"] >= 0.90  # 10 classes: chance is 0.10
    if HAVE_MATPLOTLIB:  # the figure is optional; the script says so and carries on without it
        assert (tmp_path / "digits_mlp.png").stat().st_size > 0


def test_digits_cnn_quick_learns_digits_and_saves_a_loadable_classifier(tmp_path):
    _require("sklearn")
    weights = tmp_path / "cnn.safetensors"
    result, _ = run_example("digits_cnn.py", tmp_path, "--out", str(tmp_path), "--save", str(weights))
    assert result["accuracy"] >= 0.90
    assert result["reloaded_accuracy"] == result["accuracy"]
    assert weights.stat().st_size > 0
    if HAVE_MATPLOTLIB:  # the figure is optional; the script says so and carries on without it
        assert (tmp_path / "digits_cnn.png").stat().st_size > 0
