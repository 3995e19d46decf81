"""Memory-bound kernels side by side: ember against PyTorch (CPU) in one process, in achieved GB/s and
as a fraction of the copy bandwidth measured in the same rounds (np.copyto of an array of the
input's size, as bench_ops.py measures it). Families: pooling, activations, batch_norm (training),
softmax and the fused cross-entropy, on large inputs that stream from memory ((64, 64, 56, 56)
float32 = 51 MB; (16384, 1000) = 66 MB), forward and forward+backward. Target: >= 70% of copy.

    python benchmarks/bench_kernels.py [--threads 2] [--reps 11] [--only SUBSTRING]

Method. Bytes are what the op must read plus write, each tensor once (forward: input and output,
plus int64 indices for max pooling when a backward follows; backward: the output gradient, what it
reads back (input, output or indices), and the input gradient); a kernel that streams its input
twice, or a copy made on the way, shows as a lower fraction. Before timing, ember's output and
input gradient are compared with torch's on the same data. Then ember, torch and the copy
alternate for --reps rounds; each timed sample follows one untimed re-warm call and the table
shows the medians. The clock is wall time, or process CPU time with --threads 1 (a busy machine
then disturbs the figure less). "forward" runs on tensors that do not require grad; "fwd+bwd" runs
the forward on tensors that do, then backward() with a fixed output gradient.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

import ember
from bench_ops import _interleaved
from machine import header, load_average

CNN_SHAPE = (64, 64, 56, 56)
LOGITS_SHAPE = (16384, 1000)


@dataclass(frozen=True)
class Kernel:
    family: str
    name: str
    shape: tuple
    call: Callable              # (lib, x, params) -> y, the same code for ember and torch
    bytes: Callable             # (x numel, y numel) -> (forward bytes, forward+backward bytes)
    params: Callable = None     # (lib, x shape, rng) -> extra tensors: weights (requiring grad), targets
    scalar_loss: bool = False   # y is a loss: backward() without an output gradient


def elementwise_bytes(nx, ny):
    # forward: read x, write y; backward: read dy and one saved tensor (x or y), write dx
    return 4 * (nx + ny), 4 * (nx + ny) + 4 * (ny + nx + nx)


def max_pool_bytes(nx, ny):
    # with a backward to follow, the forward also writes int64 indices, which the backward reads
    return 4 * (nx + ny), 4 * (nx + ny) + 8 * ny + (4 * ny + 8 * ny + 4 * nx)


def avg_pool_bytes(nx, ny):
    return 4 * (nx + ny), 4 * (nx + ny) + 4 * (ny + nx)


def cross_entropy_bytes(nx, ny):
    rows = LOGITS_SHAPE[0]
    # forward: read the logits and int64 targets; backward: read the logits and targets, write dlogits
    return 4 * nx + 8 * rows, 4 * nx + 8 * rows + (4 * nx + 8 * rows + 4 * nx)


def batch_norm_params(lib, shape, rng):
    c = shape[1]
    w = lib.tensor(rng.uniform(0.5, 2.0, c).astype(np.float32), requires_grad=True)
    b = lib.tensor(rng.uniform(-1.0, 1.0, c).astype(np.float32), requires_grad=True)
    return {"weight": w, "bias": b, "running_mean": lib.zeros(c), "running_var": lib.ones(c)}


def class_targets(lib, shape, rng):
    return {"target": lib.from_numpy(rng.integers(0, shape[1], shape[0]).astype(np.int64))}


def _fn(lib):
    return lib.nn.functional


KERNELS = [
    Kernel("pool", "max_pool2d 2x2 s2", CNN_SHAPE, lambda lib, x, p: _fn(lib).max_pool2d(x, 2, 2), max_pool_bytes),
    Kernel("pool", "max_pool2d 3x3 s2 p1", CNN_SHAPE, lambda lib, x, p: _fn(lib).max_pool2d(x, 3, 2, 1), max_pool_bytes),
    Kernel("pool", "avg_pool2d 2x2 s2", CNN_SHAPE, lambda lib, x, p: _fn(lib).avg_pool2d(x, 2, 2), avg_pool_bytes),
    Kernel("pool", "avg_pool2d 3x3 s2 p1", CNN_SHAPE, lambda lib, x, p: _fn(lib).avg_pool2d(x, 3, 2, 1), avg_pool_bytes),
    Kernel("activation", "relu", CNN_SHAPE, lambda lib, x, p: _fn(lib).relu(x), elementwise_bytes),
    Kernel("activation", "gelu", CNN_SHAPE, lambda lib, x, p: _fn(lib).gelu(x), elementwise_bytes),
    Kernel("activation", "silu", CNN_SHAPE, lambda lib, x, p: _fn(lib).silu(x), elementwise_bytes),
    Kernel("activation", "sigmoid", CNN_SHAPE, lambda lib, x, p: lib.sigmoid(x), elementwise_bytes),
    Kernel("activation", "tanh", CNN_SHAPE, lambda lib, x, p: lib.tanh(x), elementwise_bytes),
    Kernel("batch_norm", "batch_norm (training)", CNN_SHAPE,
           lambda lib, x, p: _fn(lib).batch_norm(x, p["running_mean"], p["running_var"], p["weight"], p["bias"],
                                                 training=True),
           elementwise_bytes, batch_norm_params),
    Kernel("softmax", "softmax dim=1", LOGITS_SHAPE, lambda lib, x, p: _fn(lib).softmax(x, dim=1), elementwise_bytes),
    Kernel("softmax", "log_softmax dim=1", LOGITS_SHAPE, lambda lib, x, p: _fn(lib).log_softmax(x, dim=1),
           elementwise_bytes),
    Kernel("cross_entropy", "cross_entropy (mean)", LOGITS_SHAPE,
           lambda lib, x, p: _fn(lib).cross_entropy(x, p["target"]), cross_entropy_bytes, class_targets,
           scalar_loss=True),
]


class Instance:
    """One kernel in one library: inputs (with and without grad), the output gradient, the two passes."""

    def __init__(self, lib, k: Kernel, x_np, dy_np, params_seed):
        self.lib, self.k = lib, k
        self.params = k.params(lib, k.shape, np.random.default_rng(params_seed)) if k.params else {}
        self.x = lib.from_numpy(x_np)
        self.x_grad = lib.tensor(x_np, requires_grad=True)
        self.dy = None if k.scalar_loss else lib.from_numpy(dy_np)

    def forward(self):
        with self.lib.no_grad():
            return self.k.call(self.lib, self.x, self.params)

    def forward_backward(self):
        self.x_grad.grad = None
        for p in self.params.values():
            if p.requires_grad:
                p.grad = None
        y = self.k.call(self.lib, self.x_grad, self.params)
        if self.dy is None:
            y.backward()
        else:
            y.backward(self.dy)
        return y


def output_shape(k: Kernel, torch):
    x = torch.zeros(k.shape)
    params = k.params(torch, k.shape, np.random.default_rng(0)) if k.params else {}
    with torch.no_grad():
        return tuple(k.call(torch, x, params).shape)


def check_same_answer(e: Instance, t: Instance):
    """ember's output and input gradient against torch's, on the same data, before any timing."""
    ye, yt = e.forward_backward().detach().numpy(), t.forward_backward().detach().numpy()
    ge, gt = e.x_grad.grad.numpy(), t.x_grad.grad.numpy()
    for what, a, b in (("output", ye, yt), ("input gradient", ge, gt)):
        scale = float(np.abs(b).max()) or 1.0
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-4, atol=1e-5 * scale):
            err = float(np.abs(a - b).max()) if a.shape == b.shape else float("nan")
            raise AssertionError(f"{e.k.name}: ember's {what} differs from torch's (max abs difference {err:.3g})")


def bench(kernels, reps, torch, clock_name):
    rng = np.random.default_rng(0)
    clock = time.process_time if clock_name == "cpu" else time.perf_counter
    n = ember.get_num_threads()
    print(f"\n### Memory-bound kernels, {n} thread{'s' if n > 1 else ''} (GB/s, median of {reps}, {clock_name} clock)\n")
    print(f"{load_average()} at start.\n")
    print("| family | kernel | shape | pass | ember GB/s | torch GB/s | ember/torch | copy GB/s | "
          "ember/copy | torch/copy |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|")
    for k in kernels:
        x_np = rng.standard_normal(k.shape, dtype=np.float32)
        dy_np = rng.standard_normal(output_shape(k, torch), dtype=np.float32)
        e, t = Instance(ember, k, x_np, dy_np, 1), Instance(torch, k, x_np, dy_np, 1)
        check_same_answer(e, t)
        ny = 1 if k.scalar_loss else int(np.prod(dy_np.shape))
        fwd_bytes, fwd_bwd_bytes = k.bytes(x_np.size, ny)
        copy_src, copy_dst = x_np.copy(), np.empty_like(x_np)
        copy_bytes = 2 * copy_src.nbytes
        for pass_name, nbytes, fe, ft in (("forward", fwd_bytes, e.forward, t.forward),
                                          ("fwd+bwd", fwd_bwd_bytes, e.forward_backward, t.forward_backward)):
            s = _interleaved({"ember": fe, "torch": ft, "copy": lambda: np.copyto(copy_dst, copy_src)},
                             reps, 1, clock=clock, rewarm=1)
            ge, gt, gc = nbytes / s["ember"] / 1e9, nbytes / s["torch"] / 1e9, copy_bytes / s["copy"] / 1e9
            print(f"| {k.family} | {k.name} | {'×'.join(map(str, k.shape))} | {pass_name} | {ge:.1f} | {gt:.1f} | "
                  f"{ge / gt:.2f} | {gc:.1f} | {ge / gc:.0%} | {gt / gc:.0%} |", flush=True)
    print(f"\n{load_average()} at end.")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=11)
    ap.add_argument("--only", default="", help="run the kernels whose family or name contains this substring")
    ap.add_argument("--clock", default="auto", choices=["auto", "wall", "cpu"],
                    help="auto: CPU time for 1 thread, wall time for more")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("benchmarks/bench_kernels.py compares against PyTorch: pip install torch==2.13.0")
    kernels = [k for k in KERNELS if args.only in k.family or args.only in k.name]
    if not kernels:
        sys.exit(f"bench_kernels.py: no kernel matches --only {args.only!r}")
    ember.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    print(header({"ember": f"{ember.__version__} ({ember.backends.cpu.capability()})", "numpy": np.__version__,
                  "torch": torch.__version__}))
    clock = args.clock if args.clock != "auto" else ("cpu" if args.threads == 1 else "wall")
    bench(kernels, args.reps, torch, clock)


if __name__ == "__main__":
    main()
