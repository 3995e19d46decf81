"""The end-to-end workloads of benchmarks/run.py, written once against a framework module.

Each builder takes ``lib`` (``torch`` or ``ember``) and uses only ``lib.nn``, ``lib.nn.functional``
and ``lib.optim``, so the torch and the ember model are the same code and hence the same
structure, parameter names and registration order. Data are NumPy arrays made from a fixed seed;
each framework wraps the same arrays.
"""
from __future__ import annotations

import math

import numpy as np


class Workload:
    """One benchmark: model + data + loss + optimizer, and the ember/torch target ratio."""

    def __init__(self, name, target, build, data, loss, optimizer, describe, encode=None, inference=False):
        self.name = name
        self.target = target          # ember/torch ratio we aim at (training)
        self.build = build            # build(lib) -> Module
        self.data = data              # data(rng) -> (inputs ndarray, targets ndarray)
        self.loss = loss              # "xent" | "mse"
        self.optimizer = optimizer    # optimizer(lib, params) -> Optimizer
        self.describe = describe      # one line for the README / table footnote
        self.encode = encode          # encode(lib, x) -> features, run inside the step (coord)
        self.inference = inference    # also benchmarked with --inference


# ---- models ---------------------------------------------------------------------------------------
def _mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))


def _cnn(lib):
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))


def _resnet(lib):
    nn = lib.nn
    F = lib.nn.functional

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                              nn.BatchNorm2d(cout))
            else:
                self.shortcut = nn.Identity()

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return F.relu(out + self.shortcut(x))

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
            self.layers = nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 32, 2), BasicBlock(32, 64, 2))
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            x = self.pool(self.layers(self.stem(x)))
            return self.fc(x.flatten(1))

    return ResNet()


def _coord(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(42, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                         nn.Linear(64, 3), nn.Sigmoid())


_FREQS = (2.0 ** np.arange(10) * math.pi).astype(np.float32)  # 2^k * pi, k = 0..9


def _positional_encoding(lib, p, freqs):
    """[p, sin(2^k pi p), cos(2^k pi p)] for k < 10: (B, 2) -> (B, 2 + 2*2*10) = (B, 42)."""
    xp = (p.unsqueeze(-1) * freqs).flatten(1)            # (B, 2, 10) -> (B, 20)
    return lib.cat([p, lib.sin(xp), lib.cos(xp)], dim=1)


def _xor(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1))


# ---- data -----------------------------------------------------------------------------------------
def _classes(rng, shape, n_classes=10):
    x = rng.standard_normal(shape, dtype=np.float32)
    y = rng.integers(0, n_classes, size=shape[0], dtype=np.int64)
    return x, y


def _coord_data(rng):
    p = rng.random((16384, 2), dtype=np.float32) * 2.0 - 1.0
    rgb = rng.random((16384, 3), dtype=np.float32)
    return p, rgb


def _xor_data(rng):
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([[0], [1], [1], [0]], dtype=np.float32)
    return x, y


# ---- optimizers -----------------------------------------------------------------------------------
def _sgd_momentum(lib, params):
    return lib.optim.SGD(params, lr=0.01, momentum=0.9)


def _sgd_momentum_wd(lib, params):
    return lib.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=5e-4)


def _adam(lib, params):
    return lib.optim.Adam(params, lr=1e-3)


def _sgd(lib, params):
    return lib.optim.SGD(params, lr=0.1)


WORKLOADS = {w.name: w for w in [
    Workload("mlp", 0.5, _mlp, lambda rng: _classes(rng, (128, 784)), "xent", _sgd_momentum,
             "Linear 784-512-512-10 + ReLU, batch 128, cross-entropy, SGD momentum 0.9", inference=True),
    Workload("cnn", 0.5, _cnn, lambda rng: _classes(rng, (64, 1, 28, 28)), "xent", _adam,
             "2x (conv3x3, BN, ReLU, maxpool2), Linear 3136-128-10, batch 64 of 1x28x28, cross-entropy, Adam",
             inference=True),
    Workload("resnet", 0.6, _resnet, lambda rng: _classes(rng, (64, 3, 32, 32)), "xent", _sgd_momentum_wd,
             "stem + 3 basic blocks (16,32,64), avgpool, Linear 64-10, batch 64 of 3x32x32, cross-entropy, "
             "SGD momentum 0.9 wd 5e-4", inference=True),
    Workload("coord", 0.5, _coord, _coord_data, "mse", _adam,
             "2-D points -> 42 Fourier features in the step, MLP 42-64-64-64-3 + Sigmoid, batch 16384, MSE, Adam",
             encode=_positional_encoding),
    Workload("xor", 0.2, _xor, _xor_data, "mse", _sgd,
             "Linear 2-4, Tanh, Linear 4-1, batch 4, MSE, SGD"),
]}

FREQS = _FREQS
