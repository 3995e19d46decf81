"""The image examples' --quick modes (edge_filter, coord_mlp, denoise), each run in a fresh interpreter.

Each asserts the metric its script prints on its `RESULT` line, once on scikit-image's sample
images and once with scikit-image hidden, on the generated pictures the scripts fall back to.
Selected with `-m examples`; scikit-image and matplotlib are optional (the scripts carry on
without them).
"""
import os

import pytest

from example_runner import HAVE_MATPLOTLIB, require, run_example

pytestmark = pytest.mark.examples

# Imported at start-up by the example's interpreter (Python's `sitecustomize` hook): makes any
# import of scikit-image fail as if it were not installed.
HIDE_SKIMAGE = '''import sys


class HideScikitImage:
    def find_spec(self, name, path=None, target=None):
        if name == "skimage" or name.startswith("skimage."):
            raise ModuleNotFoundError("scikit-image hidden by the test", name=name)
        return None


sys.meta_path.insert(0, HideScikitImage())
'''


@pytest.fixture(params=["sample images", "generated images"])
def images(request, tmp_path, monkeypatch):
    """Runs a test with scikit-image's sample images, then with scikit-image hidden."""
    if request.param == "sample images":
        require("skimage")
    else:
        hook = tmp_path / "hide_skimage"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(HIDE_SKIMAGE)
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH")) if p))
    return request.param


def run(script, tmp_path, images):
    result, out = run_example(script, tmp_path, "--out", str(tmp_path))
    # The script says when it falls back; this also proves that the hiding worked.
    assert ("scikit-image not installed" in out) == (images == "generated images"), out
    if HAVE_MATPLOTLIB:  # the figure is optional; the script says so and carries on without it
        assert (tmp_path / script.replace(".py", ".png")).stat().st_size > 0
    return result, out


def test_edge_filter_quick_learns_the_sobel_kernels(tmp_path, images):
    result, out = run("edge_filter.py", tmp_path, images)
    assert result["max_abs_diff"] < 1e-3  # the full run's criterion, met by the quick run too
    assert "Sobel x:" in out and "learned y:" in out  # both kernel pairs are printed


def test_coord_mlp_quick_positional_encoding_beats_raw_coordinates(tmp_path, images):
    result, _ = run("coord_mlp.py", tmp_path, images)
    # On the pixels neither network saw (the full run gains >= 5 dB, this short one about 5) ...
    assert result["gain_db"] >= 3.0
    # ... and by far on the pixels they were trained on: raw coordinates only learn a blur.
    assert result["train_gain_db"] >= 10.0


def test_denoise_quick_restores_an_unseen_image(tmp_path, images):
    result, _ = run("denoise.py", tmp_path, images)
    assert 19.5 < result["noisy_psnr"] < 20.5  # noise of sigma 0.1 on [0, 1] pixels: 20 dB
    assert result["gain_db"] >= 2.0  # the full run gains >= 4 dB; these 100 steps 3 to 4.5
    assert result["inpaint_gain_db"] >= 8.0  # 60% of the pixels missing: about 7 dB before, 19 after
