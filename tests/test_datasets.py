"""ember.datasets: synthetic sets, digits, and the MNIST/FashionMNIST/CIFAR10 readers (download tested
against a local HTTP server on 127.0.0.1 serving generated files; nothing reaches the internet)."""
import functools
import gzip
import hashlib
import http.server
import io
import os
import pickle
import sys
import tarfile
import threading

import numpy as np
import pytest

import ember
from ember import datasets
from ember.utils.data import DataLoader, TensorDataset


# ---- synthetic ------------------------------------------------------------------------------
@pytest.mark.parametrize("make,kwargs,n,k", [
    (datasets.xor, dict(n=101, noise=0.1), 101, 2),
    (datasets.spirals, dict(n_per_class=50, n_classes=4, noise=0.2), 200, 4),
    (datasets.moons, dict(n=101, noise=0.1), 101, 2),
    (datasets.circles, dict(n=100, noise=0.05, factor=0.4), 100, 2),
])
def test_synthetic_shapes_balance_determinism(make, kwargs, n, k):
    X, y = make(**kwargs, seed=3)
    assert X.shape == (n, 2) and y.shape == (n,)
    assert X.dtype == ember.float32 and y.dtype == ember.int64
    counts = np.bincount(y.numpy(), minlength=k)
    assert len(counts) == k and counts.max() - counts.min() <= 1
    X2, y2 = make(**kwargs, seed=3)
    np.testing.assert_array_equal(X.numpy(), X2.numpy())
    np.testing.assert_array_equal(y.numpy(), y2.numpy())
    X3, _ = make(**kwargs, seed=4)
    assert not np.array_equal(X.numpy(), X3.numpy())


def test_synthetic_no_global_state_and_dataset():
    np.random.seed(0)
    before = np.random.random()
    np.random.seed(0)
    ds = datasets.moons(n=20, seed=1, as_dataset=True)
    assert np.random.random() == before
    assert isinstance(ds, TensorDataset) and len(ds) == 20
    xb, yb = next(iter(DataLoader(ds, batch_size=8)))
    assert xb.shape == (8, 2) and yb.shape == (8,)


def test_synthetic_geometry():
    X, y = datasets.xor(n=200, noise=0.0, seed=0)
    X, y = X.numpy(), y.numpy()
    np.testing.assert_array_equal((X[:, 0] * X[:, 1] < 0).astype(np.int64), y)
    X, y = datasets.circles(n=200, noise=0.0, factor=0.3, seed=0)
    r = np.linalg.norm(X.numpy(), axis=1)
    np.testing.assert_allclose(r[y.numpy() == 0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(r[y.numpy() == 1], 0.3, rtol=1e-6)


def test_synthetic_bad_args():
    with pytest.raises(ValueError):
        datasets.moons(n=-1)
    with pytest.raises(ValueError):
        datasets.xor(noise=-0.1)
    with pytest.raises(ValueError):
        datasets.circles(factor=1.5)


# ---- digits ---------------------------------------------------------------------------------
def test_digits_split():
    pytest.importorskip("sklearn")
    Xtr, ytr = datasets.digits("train", test_size=0.2, seed=0)
    Xte, yte = datasets.digits("test", test_size=0.2, seed=0)
    assert Xtr.shape[1:] == (1, 8, 8) and Xtr.dtype == ember.float32 and ytr.dtype == ember.int64
    assert Xtr.shape[0] + Xte.shape[0] == 1797
    a = Xtr.numpy()
    assert a.min() >= 0.0 and a.max() <= 1.0 and a.max() == 1.0
    ctr, cte = np.bincount(ytr.numpy(), minlength=10), np.bincount(yte.numpy(), minlength=10)
    np.testing.assert_allclose(cte / (ctr + cte), 0.2, atol=0.01)  # stratified
    # disjoint: no test image appears in train
    tr = {r.tobytes() for r in Xtr.numpy().reshape(len(ytr.numpy()), -1)}
    te = Xte.numpy().reshape(Xte.shape[0], -1)
    assert sum(r.tobytes() in tr for r in te) <= 2  # sklearn digits has a couple of exact duplicates
    Xte2, _ = datasets.digits("test", test_size=0.2, seed=0)
    np.testing.assert_array_equal(Xte.numpy(), Xte2.numpy())
    with pytest.raises(ValueError):
        datasets.digits("val")


def test_digits_without_sklearn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r'pip install "ember\[examples\]"'):
        datasets.digits()


# ---- file helpers ---------------------------------------------------------------------------
def _idx_bytes(arr, magic):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def _mnist_files(rng, n_train=12, n_test=5):
    files = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        imgs = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        files[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(_idx_bytes(imgs, 2051))
        files[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(_idx_bytes(labels, 2049))
    return files


def _cifar_batch(rng, n):
    d = {"batch_label": "x", "data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
         "labels": [int(v) for v in rng.integers(0, 10, size=n)], "filenames": [f"{i}.png" for i in range(n)]}
    return pickle.dumps(d, protocol=4)


def _cifar_tar(rng):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, n in [(f"data_batch_{i}", 3) for i in range(1, 6)] + [("test_batch", 4)]:
            data = _cifar_batch(rng, n)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _md5(b):
    return hashlib.md5(b).hexdigest()


@pytest.fixture
def server(tmp_path):
    """Serves tmp_path/'www' on 127.0.0.1; yields (folder, base_url)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield www, f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


# ---- MNIST / FashionMNIST -------------------------------------------------------------------
@pytest.mark.parametrize("cls", [datasets.MNIST, datasets.FashionMNIST])
def test_mnist_local_folder(tmp_path, cls):
    raw = tmp_path / cls.__name__ / "raw"
    raw.mkdir(parents=True)
    files = _mnist_files(np.random.default_rng(0))
    for name, data in files.items():
        if "labels" in name:  # one gzipped, one not: both are accepted
            data, name = gzip.decompress(data), name[:-3]
        (raw / name).write_bytes(data)
    ds = cls(tmp_path, train=True)
    assert len(ds) == 12
    img, label = ds[3]
    assert img.shape == (1, 28, 28) and img.dtype == ember.float32 and isinstance(label, int)
    raw_imgs = np.frombuffer(gzip.decompress(files["train-images-idx3-ubyte.gz"])[16:], np.uint8).reshape(-1, 28, 28)
    np.testing.assert_allclose(img.numpy()[0], raw_imgs[3] / 255.0, rtol=1e-6)
    assert len(cls(tmp_path, train=False)) == 5
    seen = []
    ds_t = cls(tmp_path, train=False, transform=lambda x: x * 2.0, target_transform=lambda y: seen.append(y) or -1)
    img2, lab2 = ds_t[0]
    assert lab2 == -1 and len(seen) == 1 and float(img2.numpy().max()) <= 2.0
    xb, yb = next(iter(DataLoader(ds, batch_size=4)))
    assert xb.shape == (4, 1, 28, 28) and yb.shape == (4,)


def test_mnist_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        datasets.MNIST(tmp_path, train=True)
    msg = str(e.value)
    assert "train-images-idx3-ubyte" in msg and str(tmp_path) in msg


def test_mnist_bad_magic(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte").write_bytes(_idx_bytes(np.zeros((2, 28, 28)), 2049))
    (raw / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(2), 2049))
    with pytest.raises(ValueError, match="magic"):
        datasets.MNIST(tmp_path)


def test_mnist_download(tmp_path, server, monkeypatch):
    www, url = server
    files = _mnist_files(np.random.default_rng(1))
    for name, data in files.items():
        (www / name).write_bytes(data)
    monkeypatch.setattr(datasets.FashionMNIST, "resources", [(n, _md5(d)) for n, d in files.items()])
    root = tmp_path / "data"
    # the first mirror answers 404, the second serves the files
    ds = datasets.FashionMNIST(root, train=True, download=True, mirrors=[url + "missing/", url])
    assert len(ds) == 12
    raw = root / "FashionMNIST" / "raw"
    assert sorted(os.listdir(raw)) == sorted(files)  # no temporary files left
    # already present and valid: no server needed
    assert len(datasets.FashionMNIST(root, train=False, download=True, mirrors=["http://127.0.0.1:1/"])) == 5


def test_mnist_download_checksum_mismatch(tmp_path, server, monkeypatch):
    www, url = server
    files = _mnist_files(np.random.default_rng(2))
    for name, data in files.items():
        (www / name).write_bytes(data)
    table = [(n, _md5(d)) for n, d in files.items()]
    table[0] = (table[0][0], "0" * 32)  # corrupted relative to the known checksum
    monkeypatch.setattr(datasets.MNIST, "resources", table)
    monkeypatch.setattr(datasets.MNIST, "mirrors", [url])
    root = tmp_path / "data"
    with pytest.raises(RuntimeError, match="MD5 mismatch"):
        datasets.MNIST(root, download=True)
    raw = root / "MNIST" / "raw"
    assert os.listdir(raw) == []  # neither the bad file nor a temporary file is left behind


# ---- CIFAR10 --------------------------------------------------------------------------------
def test_cifar10_download_and_read(tmp_path, server, monkeypatch):
    www, url = server
    tar = _cifar_tar(np.random.default_rng(3))
    (www / "cifar-10-python.tar.gz").write_bytes(tar)
    monkeypatch.setattr(datasets.CIFAR10, "resources", [("cifar-10-python.tar.gz", _md5(tar))])
    monkeypatch.setattr(datasets.CIFAR10, "mirrors", [url])
    ds = datasets.CIFAR10(tmp_path, train=True, download=True)
    assert len(ds) == 15
    img, label = ds[0]
    assert img.shape == (3, 32, 32) and img.dtype == ember.float32 and isinstance(label, int)
    a = img.numpy()
    assert 0.0 <= a.min() and a.max() <= 1.0
    test = datasets.CIFAR10(tmp_path, train=False)
    assert len(test) == 4
    assert sorted(os.listdir(tmp_path / "cifar-10-batches-py")) == sorted(
        [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"])


def test_cifar10_checksum_mismatch(tmp_path, server, monkeypatch):
    www, url = server
    (www / "cifar-10-python.tar.gz").write_bytes(_cifar_tar(np.random.default_rng(4)))
    monkeypatch.setattr(datasets.CIFAR10, "resources", [("cifar-10-python.tar.gz", "f" * 32)])
    with pytest.raises(RuntimeError, match="MD5 mismatch"):
        datasets.CIFAR10(tmp_path, download=True, mirrors=[url])
    assert os.listdir(tmp_path) == ["www"]


def test_cifar10_missing_and_restricted_unpickler(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        datasets.CIFAR10(tmp_path, train=False)
    assert "test_batch" in str(e.value) and "cifar-10-batches-py" in str(e.value)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    (folder / "test_batch").write_bytes(pickle.dumps({"data": Evil(), "labels": [0]}, protocol=4))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        datasets.CIFAR10(tmp_path, train=False)


@pytest.mark.parametrize("protocol", [2, 4])
def test_cifar_batch_pickled_by_python3_with_old_protocols_reads(tmp_path, protocol):
    # protocol <= 2 from Python 3 stores numpy's bytes through _codecs.encode
    from ember.datasets.vision import load_cifar_batch
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (5, 3072), dtype=np.uint8)
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps({"data": data, "labels": [1, 2, 3, 4, 5]}, protocol=protocol))
    got, labels = load_cifar_batch(str(path))
    assert np.array_equal(got.reshape(5, -1), data) and labels.tolist() == [1, 2, 3, 4, 5]
