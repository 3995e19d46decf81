"""The example scripts' --quick modes, each run in a fresh interpreter, asserting on the metric it prints.

Every example ends with a line `RESULT name=value ...`; these tests parse it. Selected with
`-m examples`; a script whose optional dependency (scikit-learn, matplotlib, tqdm) is missing
is skipped rather than failed.
"""
import pytest

from example_runner import HAVE_MATPLOTLIB, require, run_example

pytestmark = pytest.mark.examples


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
    require("sklearn")
    result, _ = run_example("digits_mlp.py", tmp_path, "--out", str(tmp_path))
    assert result["accuracy"] >= 0.90  # 10 classes: chance is 0.10
    if HAVE_MATPLOTLIB:  # the figure is optional; the script says so and carries on without it
        assert (tmp_path / "digits_mlp.png").stat().st_size > 0


def test_digits_cnn_quick_learns_digits_and_saves_a_loadable_classifier(tmp_path):
    require("sklearn")
    weights = tmp_path / "cnn.safetensors"
    result, _ = run_example("digits_cnn.py", tmp_path, "--out", str(tmp_path), "--save", str(weights))
    assert result["accuracy"] >= 0.90
    assert result["reloaded_accuracy"] == result["accuracy"]
    assert weights.stat().st_size > 0
    if HAVE_MATPLOTLIB:  # the figure is optional; the script says so and carries on without it
        assert (tmp_path / "digits_cnn.png").stat().st_size > 0
