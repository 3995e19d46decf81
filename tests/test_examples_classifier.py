"""The --quick modes of the examples that judge their work with digits_cnn.py's classifier.

gan.py and feature_viz.py load the classifier from --classifier, or train it by running
digits_cnn.py when the file is missing; one test takes each path. Selected with `-m examples`;
skipped without scikit-learn.
"""
import pytest

from example_runner import HAVE_MATPLOTLIB, require, run_example

pytestmark = pytest.mark.examples

# gan.py --quick trains 4 epochs: about half its samples are clear digits, of 10 classes, when
# scored by a quick classifier; an untrained generator gives none (0.0, no class).
QUICK_CLEAR_FRACTION = 0.15
QUICK_CLASSES = 7


def test_feature_viz_quick_trains_the_missing_classifier_and_finds_an_input_for_each_digit(tmp_path):
    require("sklearn")
    result, stdout = run_example("feature_viz.py", tmp_path, "--out", str(tmp_path))
    assert "not found; training it with digits_cnn.py --quick" in stdout
    assert (tmp_path / "digits_cnn.safetensors").stat().st_size > 0
    assert result["min_probability"] >= 0.9  # every one of the ten images is scored as its own digit
    if HAVE_MATPLOTLIB:  # the figure is optional; the script says so and carries on without it
        assert (tmp_path / "feature_viz.png").stat().st_size > 0


def test_gan_quick_draws_digits_that_a_given_classifier_recognises(tmp_path):
    require("sklearn")
    weights = tmp_path / "classifier.safetensors"
    run_example("digits_cnn.py", tmp_path, "--out", str(tmp_path), "--save", str(weights))
    result, stdout = run_example("gan.py", tmp_path, "--out", str(tmp_path), "--classifier", str(weights))
    assert f"classifier: {weights} (trained by digits_cnn.py)" in stdout  # loaded, not retrained
    # A short run: an untrained generator makes no clear digit at all; the full run reaches >= 80%, all 10 classes.
    assert result["clear_fraction"] >= QUICK_CLEAR_FRACTION
    assert result["classes"] >= QUICK_CLASSES
    if HAVE_MATPLOTLIB:
        assert (tmp_path / "gan.png").stat().st_size > 0
