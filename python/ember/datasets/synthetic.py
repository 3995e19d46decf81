"""Small 2-D toy sets for classification demos: xor, spirals, moons, circles.

Each takes a ``seed`` and draws from its own ``numpy.random.Generator`` (no global state), so the
same arguments give the same points. Each returns ``(X, y)`` ember tensors -- X float32 of shape
(N, 2), y int64 of shape (N,) -- or, with ``as_dataset=True``, an ``ember.utils.data.TensorDataset``.
Classes are balanced (to within one sample) and the rows are shuffled.
"""
from __future__ import annotations

import numpy as np

__all__ = ["xor", "spirals", "moons", "circles"]


def _finish(X, y, rng, as_dataset):
    from ..creation import from_numpy
    from ..utils.data import TensorDataset
    perm = rng.permutation(len(y))
    X = from_numpy(np.ascontiguousarray(X[perm], dtype=np.float32))
    y = from_numpy(np.ascontiguousarray(y[perm], dtype=np.int64))
    return TensorDataset(X, y) if as_dataset else (X, y)


def _check(n, noise, minimum=1):
    if int(n) != n or n < minimum:
        raise ValueError(f"number of samples must be an integer >= {minimum}, got {n}")
    if noise < 0:
        raise ValueError(f"noise must be non-negative, got {noise}")


def xor(n: int = 200, noise: float = 0.1, seed: int = 0, *, as_dataset: bool = False):
    """Points in the four quadrants of [-1, 1]^2; label 1 where x and y have opposite signs."""
    _check(n, noise)
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    sx = rng.choice([-1.0, 1.0], size=n)
    sy = np.where(y == 0, sx, -sx)  # same signs -> class 0, opposite -> class 1
    X = np.stack([sx, sy], 1) * rng.uniform(0.1, 1.0, size=(n, 2))
    X += rng.normal(0.0, noise, size=(n, 2))
    return _finish(X, y, rng, as_dataset)


def spirals(n_per_class: int = 100, n_classes: int = 3, noise: float = 0.2, seed: int = 0, *,
            as_dataset: bool = False):
    """``n_classes`` interleaved spiral arms of ``n_per_class`` points each (the CS231n set)."""
    _check(n_per_class, noise)
    if int(n_classes) != n_classes or n_classes < 1:
        raise ValueError(f"n_classes must be an integer >= 1, got {n_classes}")
    rng = np.random.default_rng(seed)
    r = np.tile(np.linspace(0.0, 1.0, n_per_class), n_classes)
    y = np.repeat(np.arange(n_classes), n_per_class)
    t = np.concatenate([np.linspace(4.0 * j, 4.0 * (j + 1), n_per_class) for j in range(n_classes)])
    t += rng.normal(0.0, noise, size=t.shape)
    X = np.stack([r * np.sin(t), r * np.cos(t)], 1)
    return _finish(X, y, rng, as_dataset)


def moons(n: int = 200, noise: float = 0.1, seed: int = 0, *, as_dataset: bool = False):
    """Two interleaving half circles (as sklearn.datasets.make_moons)."""
    _check(n, noise, 2)
    rng = np.random.default_rng(seed)
    n_out = n // 2
    n_in = n - n_out
    a_out = np.linspace(0.0, np.pi, n_out)
    a_in = np.linspace(0.0, np.pi, n_in)
    X = np.concatenate([np.stack([np.cos(a_out), np.sin(a_out)], 1),
                        np.stack([1.0 - np.cos(a_in), 0.5 - np.sin(a_in)], 1)])
    y = np.concatenate([np.zeros(n_out, np.int64), np.ones(n_in, np.int64)])
    X += rng.normal(0.0, noise, size=X.shape)
    return _finish(X, y, rng, as_dataset)


def circles(n: int = 200, noise: float = 0.05, factor: float = 0.5, seed: int = 0, *,
            as_dataset: bool = False):
    """A large circle (class 0) around a small one of radius ``factor`` (class 1)."""
    _check(n, noise, 2)
    if not 0.0 <= factor < 1.0:
        raise ValueError(f"factor must be in [0, 1), got {factor}")
    rng = np.random.default_rng(seed)
    n_out = n // 2
    n_in = n - n_out
    a_out = np.linspace(0.0, 2 * np.pi, n_out, endpoint=False)
    a_in = np.linspace(0.0, 2 * np.pi, n_in, endpoint=False)
    X = np.concatenate([np.stack([np.cos(a_out), np.sin(a_out)], 1),
                        factor * np.stack([np.cos(a_in), np.sin(a_in)], 1)])
    y = np.concatenate([np.zeros(n_out, np.int64), np.ones(n_in, np.int64)])
    X += rng.normal(0.0, noise, size=X.shape)
    return _finish(X, y, rng, as_dataset)
