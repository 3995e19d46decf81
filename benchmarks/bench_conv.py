"""conv2d forward+backward: ember against PyTorch (CPU) in one process, on the same data.

Shapes are those of the reference CNN (MNIST) and a CIFAR ResNet: 3x3 convolutions, the stride-2
3x3 downsampling ones and the 1x1 stride-2 shortcuts, batch 64. Both libraries run with the same
thread count; after a warm-up the repetitions alternate between them, and the table reports
median milliseconds of one forward + backward (grad of input when it needs one, weight and bias).
With several threads each timed call follows --rewarm-ms of untimed calls of the same library:
torch's OpenMP workers keep spinning for a while after a call, and without the pause the library
timed next ran with one core fewer (on 2 vCPUs that made ember's calls up to 2x slower).

    python benchmarks/bench_conv.py [--threads 2] [--reps 30] [--dtype float32] [--rewarm-ms 30]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import ember
import ember.nn.functional as F

# name, input shape, out channels, kernel, stride, padding, input needs grad
SHAPES = [
    ("cnn conv1 1->32 28x28", (64, 1, 28, 28), 32, 3, 1, 1, False),
    ("cnn conv2 32->64 14x14", (64, 32, 14, 14), 64, 3, 1, 1, True),
    ("resnet stem 3->16 32x32", (64, 3, 32, 32), 16, 3, 1, 1, False),
    ("resnet 16->16 32x32", (64, 16, 32, 32), 16, 3, 1, 1, True),
    ("resnet 32->32 16x16", (64, 32, 16, 16), 32, 3, 1, 1, True),
    ("resnet 64->64 8x8", (64, 64, 8, 8), 64, 3, 1, 1, True),
    ("resnet 16->32 3x3 s2", (64, 16, 32, 32), 32, 3, 2, 1, True),
    ("resnet 32->64 3x3 s2", (64, 32, 16, 16), 64, 3, 2, 1, True),
    ("shortcut 16->32 1x1 s2", (64, 16, 32, 32), 32, 1, 2, 0, True),
    ("shortcut 32->64 1x1 s2", (64, 32, 16, 16), 64, 1, 2, 0, True),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--only", default="", help="substring of the shape names to run")
    ap.add_argument("--rewarm-ms", type=float, default=30,
                    help="untimed calls of the library about to be timed, before each sample (threads > 1)")
    ap.add_argument("--clock", default="wall", choices=["wall", "cpu"],
                    help="cpu: process CPU time, robust on a loaded machine (meaningful with --threads 1)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    ember.set_num_threads(args.threads)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    rng = np.random.default_rng(0)
    print(f"ember {ember.__version__ if hasattr(ember, '__version__') else ''} ({ember.backends.cpu.capability()}) "
          f"vs torch {torch.__version__}, {args.threads} threads, {args.dtype}, median of {args.reps}, {args.clock} clock")
    print()
    print("| shape | ember fwd+bwd ms | torch fwd+bwd ms | speed-up (torch / ember) |")
    print("|---|---:|---:|---:|")
    for name, xs, cout, k, s, p, xgrad in SHAPES:
        if args.only and args.only not in name:
            continue
        x = rng.standard_normal(xs).astype(args.dtype)
        w = (rng.standard_normal((cout, xs[1], k, k)) * 0.1).astype(args.dtype)
        b = rng.standard_normal(cout).astype(args.dtype)
        ho = (xs[2] + 2 * p - k) // s + 1
        g = rng.standard_normal((xs[0], cout, ho, ho)).astype(args.dtype)

        ex = ember.tensor(x, requires_grad=xgrad)
        ew, eb, eg = ember.tensor(w, requires_grad=True), ember.tensor(b, requires_grad=True), ember.tensor(g)
        tx = torch.tensor(x, requires_grad=xgrad)
        tw, tb, tg = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True), torch.tensor(g)

        def run_ember():
            ew.grad = eb.grad = ex.grad = None
            F.conv2d(ex, ew, eb, stride=s, padding=p).backward(eg)

        def run_torch():
            tw.grad = tb.grad = tx.grad = None
            torch.nn.functional.conv2d(tx, tw, tb, stride=s, padding=p).backward(tg)

        run_ember()
        run_torch()
        # Same answer before timing anything.
        np.testing.assert_allclose(ew.grad.numpy(), tw.grad.numpy(), rtol=2e-3, atol=2e-3 * float(np.abs(tw.grad.numpy()).max()))
        for _ in range(args.warmup):
            run_ember()
            run_torch()
        rewarm_s = args.rewarm_ms / 1e3 if args.threads > 1 else 0.0

        def sample(run):
            t = time.perf_counter()
            while time.perf_counter() - t < rewarm_s:
                run()
            t0 = clock()
            run()
            return clock() - t0

        te, tt = [], []
        for _ in range(args.reps):
            te.append(sample(run_ember))
            tt.append(sample(run_torch))
        me, mt = statistics.median(te) * 1e3, statistics.median(tt) * 1e3
        print(f"| {name} | {me:.3f} | {mt:.3f} | {mt / me:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
