"""CUDA SGEMM: ember's own kernels against torch.matmul (cuBLAS) with TF32 off, on squares and on
the training shapes of benchmarks/cpp/bench_gemm.cpp, then TF32 rows with both libraries' switch
on. Rounds alternate between the libraries (and which goes first) so that clock drift hits both;
each sample is CUDA-event time over enough back-to-back products to last >= 5 ms. Prints a
Markdown table of TFLOP/s, ember / torch, and the largest difference between the two results.

    python benchmarks/bench_cuda_gemm.py [--reps 7] [--only squares,training,tf32]
"""
from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np

import ember

# (label, M, K, N, a stored transposed, b stored transposed)
SQUARES = [(f"square {n}", n, n, n, False, False) for n in (1024, 2048, 4096)]
TRAINING = [
    ("MLP fwd 128x784 . W^T", 128, 784, 512, False, True),
    ("MLP fwd 128x512 . W^T", 128, 512, 512, False, True),
    ("MLP dX 128x512 . W", 128, 512, 784, False, False),
    ("MLP dW dY^T . X", 512, 128, 784, True, False),
    ("tall fwd 16384x64 . W^T", 16384, 64, 64, False, True),
    ("tall dX 16384x64 . W", 16384, 64, 42, False, False),
    ("tall dW dY^T . X (K=16384)", 64, 16384, 64, True, False),
    ("conv im2col 12544x288 . W^T", 12544, 288, 64, False, True),
    ("conv dcol 12544x64 . W", 12544, 64, 288, False, False),
    ("conv dW (K=12544)", 288, 12544, 64, True, False),
]
TF32 = [(f"square {n} TF32", n, n, n, False, False) for n in (2048, 4096)]


def die(msg):
    sys.exit(f"bench_cuda_gemm: {msg}")


def operands(torch, m, k, n, ta, tb, rng):
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    a_store = np.ascontiguousarray(a.T) if ta else a
    b_store = np.ascontiguousarray(b.T) if tb else b
    ea, eb = ember.tensor(a_store, device="cuda"), ember.tensor(b_store, device="cuda")
    ta_, tb_ = torch.from_numpy(a_store).cuda(), torch.from_numpy(b_store).cuda()
    if ta:
        ea, ta_ = ea.t(), ta_.t()
    if tb:
        eb, tb_ = eb.t(), tb_.t()
    return (ea, eb), (ta_, tb_)


def event_time(torch, fn, inner):
    """Seconds per call of fn, from CUDA events around `inner` calls (ember and torch both issue
    their kernels on the legacy default stream, which torch's events are recorded on)."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(inner):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) * 1e-3 / inner


def interleaved(torch, fns, reps):
    for f in fns.values():  # warm-up: allocator caches, kernel loading
        f()
    torch.cuda.synchronize()
    inner = {k: max(1, min(1000, int(5e-3 / max(event_time(torch, f, 3), 1e-7)))) for k, f in fns.items()}
    samples = {k: [] for k in fns}
    names = list(fns)
    for r in range(reps):
        for k in (names if r % 2 == 0 else names[::-1]):
            samples[k].append(event_time(torch, fns[k], inner[k]))
    return {k: statistics.median(v) for k, v in samples.items()}


def run(torch, rows, reps, tf32):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    ember.backends.cuda.matmul.allow_tf32 = tf32
    rng = np.random.default_rng(0)
    out = []
    try:
        for label, m, k, n, ta, tb in rows:
            (ea, eb), (xa, xb) = operands(torch, m, k, n, ta, tb, rng)
            t = interleaved(torch, {"ember": lambda: ea @ eb, "torch": lambda: torch.matmul(xa, xb)}, reps)
            ref = torch.matmul(xa, xb).cpu().double().numpy()
            diff = float(np.abs((ea @ eb).cpu().numpy().astype(np.float64) - ref).max() / max(np.abs(ref).max(), 1e-30))
            flops = 2.0 * m * n * k
            out.append((f"{label} ({m}x{k}x{n}{' At' if ta else ''}{' Bt' if tb else ''})",
                        flops / t["ember"] * 1e-12, flops / t["torch"] * 1e-12, diff))
    finally:
        torch.backends.cuda.matmul.allow_tf32 = False
        ember.backends.cuda.matmul.allow_tf32 = False
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--only", default="squares,training,tf32", help="comma-separated: squares, training, tf32")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        die("PyTorch is not installed; it is the baseline (pip install torch with CUDA)")
    if not torch.cuda.is_available():
        die("torch sees no CUDA GPU")
    if not ember.cuda.is_available():
        die(f"ember sees no CUDA GPU (ember._C.has_cuda={ember._C.has_cuda}: "
            f"{'no device visible' if ember._C.has_cuda else 'ember was built without CUDA'})")
    groups = {"squares": (SQUARES, False), "training": (TRAINING, False), "tf32": (TF32, True)}
    wanted = [g.strip() for g in args.only.split(",") if g.strip()]
    for g in wanted:
        if g not in groups:
            die(f"unknown group {g!r} (choose from {', '.join(groups)})")
    print(f"# CUDA SGEMM on {torch.cuda.get_device_name()}: ember vs torch {torch.__version__} (cuBLAS)\n")
    print("| shape (M x K x N) | ember TFLOP/s | torch TFLOP/s | ember / torch | max rel diff |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for g in wanted:
        rows, tf32 = groups[g]
        for label, e, t, diff in run(torch, rows, args.reps, tf32):
            print(f"| {label} | {e:.2f} | {t:.2f} | {e / t:.2f} | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
