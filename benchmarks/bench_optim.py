"""Optimizer step over a ResNet's parameters: ember's fused step vs torch.optim (foreach=True), in
one process, next to the time of one pass over the same bytes at copy bandwidth.

A step reads and writes every parameter, gradient and state buffer once; "passes" is the step time
divided by the time those bytes take at copy bandwidth, so 1.0 means the step runs at the memory's
limit. It can go below 1: a copy also reads each destination line before writing it (write-allocate),
which an in-place update does not pay, so the step can move its bytes faster than a copy does. Parameter shapes are ResNet-18's (ImageNet, 11.7M parameters, far larger than the caches)
and ResNet-20's (CIFAR, 0.27M, cache-resident: there launch overhead dominates).

    python benchmarks/bench_optim.py [--threads 2] [--reps 15]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import ember

try:
    import torch
except ImportError:  # the table then shows ember alone
    torch = None


def resnet18_shapes():
    shapes = [(64, 3, 7, 7), (64,), (64,)]  # stem conv + BatchNorm weight/bias
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for block in range(2):
            s = stride if block == 0 else 1
            shapes += [(cout, cin, 3, 3), (cout,), (cout,), (cout, cout, 3, 3), (cout,), (cout,)]
            if s != 1 or cin != cout:
                shapes += [(cout, cin, 1, 1), (cout,), (cout,)]
            cin = cout
    return shapes + [(1000, 512), (1000,)]


def resnet20_shapes():
    shapes = [(16, 3, 3, 3), (16,), (16,)]
    cin = 16
    for cout in (16, 32, 64):
        for _ in range(3):
            shapes += [(cout, cin, 3, 3), (cout,), (cout,), (cout, cout, 3, 3), (cout,), (cout,)]
            if cin != cout:
                shapes += [(cout, cin, 1, 1), (cout,), (cout,)]
            cin = cout
    return shapes + [(10, 64), (10,)]


# name: (ember factory, torch factory, state buffers per parameter)
OPTIMIZERS = {
    "SGD momentum=0.9 wd=5e-4": (
        lambda o, ps: o.SGD(ps, lr=0.1, momentum=0.9, weight_decay=5e-4),
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=5e-4, foreach=True), 1),
    "Adam": (
        lambda o, ps: o.Adam(ps, lr=1e-3),
        lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=True), 2),
    "AdamW wd=1e-2": (
        lambda o, ps: o.AdamW(ps, lr=1e-3, weight_decay=1e-2),
        lambda ps: torch.optim.AdamW(ps, lr=1e-3, weight_decay=1e-2, foreach=True), 2),
    "RMSprop": (
        lambda o, ps: o.RMSprop(ps, lr=1e-3),
        lambda ps: torch.optim.RMSprop(ps, lr=1e-3, foreach=True), 1),
}


def _params(lib, shapes, rng):
    out = []
    for s in shapes:
        p = lib.from_numpy(rng.standard_normal(s, dtype=np.float32))
        p.requires_grad_(True)
        p.grad = lib.from_numpy(rng.standard_normal(s, dtype=np.float32) * 1e-3)
        out.append(p)
    return out


def _interleaved(fns, reps):
    samples = {k: [] for k in fns}
    for f in fns.values():  # warm-up: the first step allocates the state
        f()
        f()
    for _ in range(reps):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            samples[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in samples.items()}


def bench(shapes_name, shapes, reps):
    numel = sum(int(np.prod(s)) for s in shapes)
    rng = np.random.default_rng(0)
    # The reference copy is the faster of NumPy's (one thread) and ember's own (all threads), over
    # a buffer the size of the parameters (at least 64 MB, so it streams from memory).
    big = rng.standard_normal(max(numel, 1 << 24), dtype=np.float32)
    dst = np.empty_like(big)
    src_e, dst_e = ember.from_numpy(big), ember.from_numpy(dst)
    t_copy = min(_interleaved({"numpy": lambda: np.copyto(dst, big), "ember": lambda: dst_e.copy_(src_e)},
                              reps).values())
    copy_bps = 2 * 4 * big.size / t_copy
    print(f"\n### {shapes_name}: {len(shapes)} tensors, {numel / 1e6:.2f}M float32 parameters, "
          f"{ember.get_num_threads()} threads (copy {copy_bps / 1e9:.1f} GB/s)\n")
    print("| optimizer | ember ms | torch foreach ms | ember / torch | ember passes over memory |")
    print("|---|---:|---:|---:|---:|")
    for name, (make_ember, make_torch, n_state) in OPTIMIZERS.items():
        ember_opt = make_ember(ember.optim, _params(ember, shapes, rng))
        fns = {"ember": ember_opt.step}
        if torch is not None:
            torch_opt = make_torch(_params(torch, shapes, rng))
            fns["torch"] = torch_opt.step
        t = _interleaved(fns, reps)
        # read p, g and the state; write p and the state
        nbytes = 4 * numel * (2 + n_state + 1 + n_state)
        te, tt = t["ember"], t.get("torch", float("nan"))
        print(f"| {name} | {te * 1e3:.3f} | {tt * 1e3:.3f} | {te / tt:.2f} | {te / (nbytes / copy_bps):.2f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()
    if args.threads:
        ember.set_num_threads(args.threads)
        if torch is not None:
            torch.set_num_threads(args.threads)
    if torch is not None:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    bench("ResNet-18 (ImageNet)", resnet18_shapes(), args.reps)
    bench("ResNet-20 (CIFAR-10)", resnet20_shapes(), args.reps)


if __name__ == "__main__":
    main()
