"""Readers for MNIST, FashionMNIST (IDX files) and CIFAR-10 (python pickle batches) in a local folder,
with an optional download from a list of mirrors (MD5-checked, written atomically).

Samples are ``(image, label)``: image a float32 CHW tensor in [0, 1] (or whatever ``transform`` makes
of it), label an int (or ``target_transform(label)``).
"""
from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import tarfile
import tempfile
import urllib.request

import numpy as np

from ..utils.data import Dataset

__all__ = ["MNIST", "FashionMNIST", "CIFAR10"]


def _md5(path: str) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_file(mirrors, filename: str, folder: str, md5: str, timeout: float = 60.0) -> str:
    """Fetches ``filename`` from the first mirror that serves it with the right MD5 and writes it to
    ``folder/filename`` atomically (a temporary file, then os.replace). A file that fails the checksum
    is deleted; if no mirror succeeds, raises RuntimeError listing what went wrong."""
    os.makedirs(folder, exist_ok=True)
    dest = os.path.join(folder, filename)
    errors = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + filename
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{filename}.", suffix=".part")
        try:
            h = hashlib.md5(usedforsecurity=False)
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                for chunk in iter(lambda: resp.read(1 << 20), b""):
                    h.update(chunk)
                    out.write(chunk)
            if h.hexdigest() != md5:
                raise RuntimeError(f"MD5 mismatch for {url}: expected {md5}, got {h.hexdigest()}")
            os.replace(tmp, dest)
            return dest
        except Exception as e:  # try the next mirror
            errors.append(f"{url}: {e}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise RuntimeError(f"could not download {filename}:\n  " + "\n  ".join(errors))


class _Folder(Dataset):
    """Shared by the readers: ``resources`` [(filename, md5)] fetched from ``mirrors`` into ``raw_folder``."""
    mirrors: list = []
    resources: list = []

    def __init__(self, root, train=True, download=False, transform=None, target_transform=None, mirrors=None):
        self.root = os.path.expanduser(os.fspath(root))
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        if mirrors is not None:
            self.mirrors = list(mirrors)
        if download:
            self.download()
        missing = [f for f in self._needed_files() if not os.path.exists(os.path.join(self.data_folder, f))]
        if missing:
            raise FileNotFoundError(f"{type(self).__name__}: missing {', '.join(missing)} in {self.data_folder} "
                                    f"(pass download=True to fetch them)")
        self.data, self.targets = self._load()

    @property
    def raw_folder(self) -> str:
        return os.path.join(self.root, type(self).__name__, "raw")

    data_folder = raw_folder

    def _needed_files(self):
        raise NotImplementedError

    def _load(self):
        raise NotImplementedError

    def download(self) -> None:
        for filename, md5 in self.resources:
            path = os.path.join(self.raw_folder, filename)
            if os.path.exists(path) and _md5(path) == md5:
                continue
            download_file(self.mirrors, filename, self.raw_folder, md5)

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        from ..creation import from_numpy
        img = from_numpy(self.data[index].astype(np.float32) / np.float32(255.0))
        target = int(self.targets[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target


def read_idx(path: str, magic: int) -> np.ndarray:
    """Reads an unsigned-byte IDX file (optionally gzipped); ``magic`` is 2051 (images) or 2049 (labels)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        buf = f.read()
    got = int.from_bytes(buf[:4], "big")
    if got != magic:
        raise ValueError(f"{path}: bad IDX magic number {got} (expected {magic})")
    ndim = magic & 0xFF
    dims = [int.from_bytes(buf[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    if len(buf) - offset != int(np.prod(dims)):
        raise ValueError(f"{path}: {len(buf) - offset} data bytes for shape {tuple(dims)}")
    return np.frombuffer(buf, dtype=np.uint8, offset=offset).reshape(dims)


class MNIST(_Folder):
    """MNIST in ``root/MNIST/raw`` (the torchvision layout); files may be gzipped or not."""
    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ]

    def _files(self):
        prefix = "train" if self.train else "t10k"
        return [f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"]

    def _find(self, name):
        for candidate in (name, name + ".gz"):
            if os.path.exists(os.path.join(self.raw_folder, candidate)):
                return candidate
        return None

    def _needed_files(self):
        return [self._find(n) or n + "[.gz]" for n in self._files()]

    def _load(self):
        images, labels = (os.path.join(self.raw_folder, self._find(n)) for n in self._files())
        data = read_idx(images, 2051)[:, None, :, :]  # N, 1, H, W
        targets = read_idx(labels, 2049).astype(np.int64)
        if len(data) != len(targets):
            raise ValueError(f"{len(data)} images but {len(targets)} labels in {self.raw_folder}")
        return data, targets


class FashionMNIST(MNIST):
    """Fashion-MNIST in ``root/FashionMNIST/raw`` (same IDX format as MNIST)."""
    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ]


def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class _RestrictedUnpickler(pickle.Unpickler):
    """Builds only dicts, lists, bytes, str, numbers and numpy arrays; any other global is refused."""

    def find_class(self, module, name):
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            return _numpy_reconstruct()
        if module == "numpy" and name == "ndarray":
            return np.ndarray
        if module == "numpy" and name == "dtype":
            return np.dtype
        if module == "_codecs" and name == "encode":  # Python 3 pickles (protocol <= 2) store bytes this way
            import codecs
            return codecs.encode
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name} from a CIFAR batch")


def load_cifar_batch(path: str):
    """Returns (data uint8 (N, 3, 32, 32), labels int64 (N,)) from one python-format CIFAR-10 batch."""
    with open(path, "rb") as f:
        d = _RestrictedUnpickler(f, encoding="latin1").load()
    if not isinstance(d, dict) or "data" not in d or "labels" not in d:
        raise ValueError(f"{path}: not a CIFAR-10 batch (expected a dict with 'data' and 'labels')")
    data = np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    return data, np.asarray(d["labels"], dtype=np.int64)


class CIFAR10(_Folder):
    """CIFAR-10 in ``root/cifar-10-batches-py`` (the official python batches)."""
    mirrors = ["https://www.cs.toronto.edu/~kriz/"]
    resources = [("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a")]
    base_folder = "cifar-10-batches-py"
    train_list = [f"data_batch_{i}" for i in range(1, 6)]
    test_list = ["test_batch"]

    def __init__(self, root, train=True, download=False, transform=None, target_transform=None, mirrors=None):
        super().__init__(root, train, download, transform, target_transform, mirrors)

    @property
    def raw_folder(self) -> str:
        return self.root

    @property
    def data_folder(self) -> str:
        return os.path.join(self.root, self.base_folder)

    def _needed_files(self):
        return self.train_list if self.train else self.test_list

    def download(self) -> None:
        names = self.train_list + self.test_list
        if all(os.path.exists(os.path.join(self.data_folder, n)) for n in names):
            return
        super().download()
        archive = os.path.join(self.raw_folder, self.resources[0][0])
        with tarfile.open(archive, "r:gz") as tar:
            for m in tar.getmembers():  # extract only plain files under base_folder, no links or '..'
                parts = m.name.split("/")
                if m.isfile() and len(parts) == 2 and parts[0] == self.base_folder and parts[1] not in ("", ".", ".."):
                    os.makedirs(self.data_folder, exist_ok=True)
                    src = tar.extractfile(m)
                    fd, tmp = tempfile.mkstemp(dir=self.data_folder, prefix=f".{parts[1]}.", suffix=".part")
                    try:
                        with os.fdopen(fd, "wb") as out:
                            out.write(src.read())
                        os.replace(tmp, os.path.join(self.data_folder, parts[1]))
                    finally:
                        if os.path.exists(tmp):
                            os.remove(tmp)

    def _load(self):
        batches = [load_cifar_batch(os.path.join(self.data_folder, n)) for n in self._needed_files()]
        return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
