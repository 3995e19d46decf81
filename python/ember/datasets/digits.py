"""scikit-learn's bundled 8x8 handwritten digits (1797 images, no download), with a stratified,
deterministic train/test split."""
from __future__ import annotations

import numpy as np

__all__ = ["digits"]


def digits(split: str = "train", test_size: float = 0.2, seed: int = 0, *, as_dataset: bool = False):
    """Returns ``(X, y)``: X float32 (N, 1, 8, 8) in [0, 1], y int64 (N,) -- or a TensorDataset.

    Each class is split on its own (stratified) by a permutation drawn from ``seed``, so ``'train'``
    and ``'test'`` with the same ``test_size`` and ``seed`` are disjoint and cover the whole set.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}")
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError('ember.datasets.digits needs scikit-learn: pip install "ember[examples]"') from e
    from ..creation import from_numpy
    from ..utils.data import TensorDataset

    bunch = load_digits()
    images = (np.asarray(bunch.images, dtype=np.float32) / 16.0).reshape(-1, 1, 8, 8)
    labels = np.asarray(bunch.target, dtype=np.int64)
    rng = np.random.default_rng(seed)
    test_idx, train_idx = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(test_size * len(idx)))
        test_idx.append(idx[:k])
        train_idx.append(idx[k:])
    idx = np.sort(np.concatenate(test_idx if split == "test" else train_idx))
    X = from_numpy(np.ascontiguousarray(images[idx]))
    y = from_numpy(np.ascontiguousarray(labels[idx]))
    return TensorDataset(X, y) if as_dataset else (X, y)
