"""The model examples (autoencoder.py, vae.py, resnet.py): their --quick modes reach their metrics, and
the pieces resnet.py relies on (the CIFAR-10 reader on files in the official format, the generated
CIFAR-format images, the augmentation, ResNet-20 itself) do what its docstring says."""
import importlib.util
import pickle
import struct
import subprocess
import sys

import numpy as np
import pytest

import ember
from ember.datasets import CIFAR10
from example_runner import EXAMPLES, HAVE_MATPLOTLIB, require, run_example

pytestmark = pytest.mark.examples


def load_example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- quick modes ----------------------------------------------------------------------------
def test_autoencoder_quick_reconstructs_test_digits_better_than_pca_at_the_same_code_size(tmp_path):
    require("sklearn")
    result, _ = run_example("autoencoder.py", tmp_path, "--out", str(tmp_path))
    assert result["ae_mse"] < result["pca_mse"]
    assert result["ratio"] == pytest.approx(result["ae_mse"] / result["pca_mse"], rel=1e-3)
    if HAVE_MATPLOTLIB:  # the figure is optional; the script says so and carries on without it
        assert (tmp_path / "autoencoder.png").stat().st_size > 0


def test_vae_quick_elbo_rises_every_epoch_after_smoothing(tmp_path):
    require("sklearn")
    result, _ = run_example("vae.py", tmp_path, "--out", str(tmp_path))
    assert result["monotone"] == 1 and result["largest_fall"] < 0.01
    assert result["train_elbo_last"] > result["train_elbo_first"] + 1.0  # nats per image
    assert result["test_elbo"] > result["train_elbo_first"]
    if HAVE_MATPLOTLIB:
        assert (tmp_path / "vae.png").stat().st_size > 0


def test_resnet_quick_lowers_the_loss_on_generated_cifar_format_images(tmp_path):
    result, out = run_example("resnet.py", tmp_path, "--out", str(tmp_path), "--data", str(tmp_path / "none"))
    assert "generated: 256 training and 100 test images" in out
    assert "ResNet-20 (shortcut A): 269,722 parameters" in out  # the paper's 0.27M
    assert result["last_loss"] < 0.9 * result["first_loss"]
    assert not (tmp_path / "none").exists()  # the generated files went to a temporary folder
    if HAVE_MATPLOTLIB:
        assert (tmp_path / "resnet.png").stat().st_size > 0


def test_resnet_without_cifar_files_stops_and_downloads_nothing(tmp_path):
    proc = subprocess.run([sys.executable, str(EXAMPLES / "resnet.py"), "--data", str(tmp_path), "--epochs", "1"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2  # argparse's usage error
    assert "--download" in proc.stderr and "--synthetic" in proc.stderr
    assert list(tmp_path.iterdir()) == []


# ---- the CIFAR-10 reader on the official file format ----------------------------------------
def python2_cifar_pickle(data, labels, batch_label):
    """The bytes that Python 2's cPickle.dump(batch, f, 2) wrote for the official CIFAR-10 files:
    a dict keyed by byte strings, the pixels a uint8 array rebuilt by numpy.core.multiarray._reconstruct
    from a byte string, the labels a list of ints. Written opcode by opcode, since Python 3's pickle
    writes byte strings differently."""
    def string(b):  # a Python 2 str
        return pickle.BINSTRING + struct.pack("<i", len(b)) + b

    def integer(v):
        return pickle.BININT + struct.pack("<i", v)

    rows, cols = data.shape
    dtype = (pickle.GLOBAL + b"numpy\ndtype\n" + string(b"u1") + integer(0) + integer(1) + pickle.TUPLE3
             + pickle.REDUCE + pickle.MARK + integer(3) + string(b"|") + pickle.NONE + pickle.NONE + pickle.NONE
             + integer(-1) + integer(-1) + integer(0) + pickle.TUPLE + pickle.BUILD)
    array = (pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n" + pickle.GLOBAL + b"numpy\nndarray\n"
             + integer(0) + pickle.TUPLE1 + string(b"b") + pickle.TUPLE3 + pickle.REDUCE
             + pickle.MARK + integer(1) + integer(rows) + integer(cols) + pickle.TUPLE2 + dtype + pickle.NEWFALSE
             + string(data.tobytes()) + pickle.TUPLE + pickle.BUILD)
    label_list = pickle.EMPTY_LIST + pickle.MARK + b"".join(integer(int(v)) for v in labels) + pickle.APPENDS
    return (pickle.PROTO + b"\x02" + pickle.EMPTY_DICT + pickle.MARK
            + string(b"batch_label") + string(batch_label.encode()) + string(b"data") + array
            + string(b"labels") + label_list + pickle.SETITEMS + pickle.STOP)


def test_cifar10_reads_python2_pickled_batches_with_rgb_planes_in_row_major_order(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rows_, cols_ = np.mgrid[0:32, 0:32]
    batches = {f"data_batch_{i}": (3, 10 * i) for i in range(1, 6)}
    batches["test_batch"] = (4, 100)
    for name, (n, first) in batches.items():
        # Image k: red = its number, green = the row, blue = the column, each plane row-major.
        planes = [np.stack([np.full((32, 32), first + k), rows_, cols_ + 100]) for k in range(n)]
        data = np.stack(planes).astype(np.uint8).reshape(n, 3072)
        (folder / name).write_bytes(python2_cifar_pickle(data, [(first + k) % 10 for k in range(n)], name))

    train, test = CIFAR10(tmp_path, train=True), CIFAR10(tmp_path, train=False)
    assert len(train) == 15 and len(test) == 4
    assert train.data.shape == (15, 3, 32, 32) and train.data.dtype == np.uint8
    np.testing.assert_array_equal(train.data[:, 0, 5, 7], [10 * i + k for i in range(1, 6) for k in range(3)])
    np.testing.assert_array_equal(train.targets, [(10 * i + k) % 10 for i in range(1, 6) for k in range(3)])
    image, label = test[2]
    assert image.shape == (3, 32, 32) and image.dtype == ember.float32 and label == 2
    pixels = image.numpy() * 255
    np.testing.assert_allclose(pixels[0], 102, atol=1e-4)
    np.testing.assert_allclose(pixels[1], rows_, atol=1e-4)
    np.testing.assert_allclose(pixels[2], cols_ + 100, atol=1e-4)


# ---- resnet.py's pieces ---------------------------------------------------------------------
def test_resnet_synthetic_files_are_cifar10_batches_with_balanced_classes(tmp_path):
    resnet = load_example("resnet")
    resnet.write_synthetic_cifar(tmp_path, n_train=60, n_test=20, seed=3)
    assert sorted(p.name for p in (tmp_path / "cifar-10-batches-py").iterdir()) == sorted(
        [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"])
    train, test = CIFAR10(tmp_path, train=True), CIFAR10(tmp_path, train=False)
    assert len(train) == 60 and len(test) == 20
    np.testing.assert_array_equal(np.bincount(train.targets, minlength=10), 6)
    np.testing.assert_array_equal(np.bincount(test.targets, minlength=10), 2)
    again = tmp_path / "again"  # the same seed writes the same files
    resnet.write_synthetic_cifar(again, n_train=60, n_test=20, seed=3)
    np.testing.assert_array_equal(CIFAR10(again, train=True).data, train.data)


def test_resnet_augment_is_a_crop_of_the_padded_image_possibly_flipped():
    resnet = load_example("resnet")
    rng = np.random.default_rng(0)
    images = rng.normal(size=(16, 3, 32, 32)).astype(np.float32)
    out = resnet.augment(images, np.random.default_rng(1))
    assert out.shape == images.shape and out.dtype == np.float32
    padded = np.pad(images, ((0, 0), (0, 0), (4, 4), (4, 4)))
    flips = 0
    for img, pad in zip(out, padded):
        windows = [(pad[:, t:t + 32, l:l + 32], f) for t in range(9) for l in range(9) for f in (False, True)]
        matches = [f for w, f in windows if np.array_equal(w[:, :, ::-1] if f else w, img)]
        assert matches, "not a 32x32 window of the padded image"
        flips += matches[0]
    assert 0 < flips < 16  # both flipped and unflipped images occur


@pytest.mark.parametrize("shortcut,parameters", [("A", 269_722), ("B", 272_474)])
def test_resnet20_has_the_papers_shape_and_size(shortcut, parameters):
    resnet = load_example("resnet")
    model = resnet.ResNet(3, shortcut=shortcut)
    assert sum(p.numel() for p in model.parameters()) == parameters
    convs = [m for m in model.modules() if isinstance(m, ember.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) + 1 == 20  # 19 convolutions and the classifier
    block = model.stages[3]  # the first block of stage 2: 16 -> 32 channels, stride 2
    x = ember.randn(2, 16, 32, 32)
    assert block(x).shape == (2, 32, 16, 16)
    if shortcut == "A":  # subsampled identity, zero channels either side
        shortcut_out = block.shortcut(x).numpy()
        np.testing.assert_array_equal(shortcut_out[:, 8:24], x.numpy()[:, :, ::2, ::2])
        assert not shortcut_out[:, :8].any() and not shortcut_out[:, 24:].any()
    assert model(ember.randn(2, 3, 32, 32)).shape == (2, 10)
