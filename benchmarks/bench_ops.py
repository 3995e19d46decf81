"""ember vs PyTorch side by side, in one process: (a) per-op Python overhead on tiny tensors
(forward + backward of short autograd chains), (b) throughput of memory-bound ops on 16M floats,
in GB/s next to a plain copy measured in the same run. Prints Markdown tables.

    python benchmarks/bench_ops.py [--threads 2] [--reps 15] [--only overhead|throughput]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import ember

try:
    import torch
except ImportError:  # the tables then show ember alone
    torch = None


def _median_time(fn, reps, inner):
    """Median over `reps` repetitions of the mean time of `inner` calls (seconds)."""
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        out.append((time.perf_counter() - t0) / inner)
    return statistics.median(out)


def _interleaved(fns, reps, inner, clock=time.perf_counter, rewarm=0, settle_s=0.0, rewarm_s=0.0):
    """Runs each candidate once per round, alternating, so that drift hits all alike. `rewarm`
    untimed calls precede each timed sample: while the other candidates ran, this one's data left
    the caches and its library's worker threads went to sleep. `settle_s` of idle time before each
    sample lets the previous candidate's spinning worker threads go to sleep first: OpenBLAS's
    keep a core busy for about 0.2 s after a call here, long enough to halve the next library's
    2-thread GEMM (ember's 512^3 at 2 threads: 6.5 ms alone, 10.7 ms right after OpenBLAS, 6.5 ms
    after a 0.2 s pause). But an idle pause has its own cost on a VM: the idle vCPU comes back
    slowly (after 0.25 s idle, the same GEMM ran at 27-38 GFLOP/s for the next 50 ms against
    56-60 hot), so `rewarm_s` instead keeps untimed calls of the candidate itself going for that
    long: the peer's spinners time out while both cores stay busy. `clock`: time.process_time gives CPU time, which a loaded machine
    disturbs less (meaningful for single-threaded runs)."""
    samples = {k: [] for k in fns}
    for k, f in fns.items():  # warm-up
        for _ in range(min(inner, 3)):
            f()
    for _ in range(reps):
        for k, f in fns.items():
            if settle_s:
                time.sleep(settle_s)
            t_end = time.perf_counter() + rewarm_s
            n = 0
            while n < rewarm or time.perf_counter() < t_end:
                f()
                n += 1
            t0 = clock()
            for _ in range(inner):
                f()
            samples[k].append((clock() - t0) / inner)
    return {k: statistics.median(v) for k, v in samples.items()}


# ---- (a) Python overhead ------------------------------------------------------------------------
def _chains(lib):
    def make(lib):
        a = lib.tensor([0.1, 0.2, 0.3, 0.4], requires_grad=True)
        b = lib.tensor([0.5, 0.6, 0.7, 0.8], requires_grad=True)
        return a, b
    a, b = make(lib)

    def fwd_bwd(f, ops):
        def run():
            a.grad = None
            b.grad = None
            f(a, b).backward()
        return run, ops

    chains = {
        "((a*b + a).exp()).sum()": fwd_bwd(lambda a, b: (a * b + a).exp().sum(), 4),
        "(a - b).relu().mean()": fwd_bwd(lambda a, b: (a - b).relu().mean(), 3),
        "((a*b).tanh() * a).sum()": fwd_bwd(lambda a, b: ((a * b).tanh() * a).sum(), 4),
        "a.max(0).values + b.var()": fwd_bwd(lambda a, b: a.max(0).values + b.var(), 3),
        "a.logsumexp(0) * b.norm()": fwd_bwd(lambda a, b: a.logsumexp(0) * b.norm(), 3),
    }

    def fwd_only(f, ops):
        def run():
            f(a, b)
        return run, ops
    with_nograd = {
        "a + b (no grad)": lambda a, b: a.detach() + b.detach(),
        "a.sum() (no grad)": lambda a, b: a.detach().sum(),
    }
    for name, f in with_nograd.items():
        chains[name] = fwd_only(f, 1)
    return chains


def bench_overhead(reps):
    ember_chains = _chains(ember)
    torch_chains = _chains(torch) if torch is not None else {}
    print("\n### Per-op overhead: 4-element float32 tensors (µs per op, median)\n")
    print("| chain (forward + backward) | ops | ember µs/op | torch µs/op | ember/torch |")
    print("|---|---:|---:|---:|---:|")
    for name, (fe, ops) in ember_chains.items():
        fns = {"ember": fe}
        if name in torch_chains:
            fns["torch"] = torch_chains[name][0]
        t = _interleaved(fns, reps, 200)
        te = t["ember"] * 1e6 / ops
        tt = t.get("torch", float("nan")) * 1e6 / ops
        print(f"| `{name}` | {ops} | {te:.2f} | {tt:.2f} | {te / tt:.2f} |")


# ---- (b) throughput ----------------------------------------------------------------------------
def bench_throughput(reps, rewarm_s):
    rows, cols = 4096, 4096
    n = rows * cols
    rng = np.random.default_rng(0)
    xn = rng.standard_normal((rows, cols), dtype=np.float32)
    yn = rng.standard_normal((rows, cols), dtype=np.float32)
    vn = rng.standard_normal(cols, dtype=np.float32)
    dst = np.empty_like(xn)
    ex, ey, ev = ember.from_numpy(xn), ember.from_numpy(yn), ember.from_numpy(vn)
    cases = {  # name: (ember fn, torch fn, bytes moved)
        "copy (np.copyto / clone)": (lambda: ex.clone(), lambda: tx.clone(), 2 * 4 * n),
        "add": (lambda: ex + ey, lambda: tx + ty, 3 * 4 * n),
        "add broadcast (4096,4096)+(4096,)": (lambda: ex + ev, lambda: tx + tv, 2 * 4 * n),
        "mul": (lambda: ex * ey, lambda: tx * ty, 3 * 4 * n),
        "relu": (lambda: ex.relu(), lambda: tx.relu(), 2 * 4 * n),
        "exp": (lambda: ex.exp(), lambda: tx.exp(), 2 * 4 * n),
        "sum (all)": (lambda: ex.sum(), lambda: tx.sum(), 4 * n),
        "sum dim=0": (lambda: ex.sum(0), lambda: tx.sum(0), 4 * n),
        "mean dim=1": (lambda: ex.mean(1), lambda: tx.mean(1), 4 * n),
        "max dim=1 (values+indices)": (lambda: ex.max(1), lambda: tx.max(1), 4 * n),
        "max dim=0 (values+indices)": (lambda: ex.max(0), lambda: tx.max(0), 4 * n),
        "amax dim=1": (lambda: ex.amax(1), lambda: tx.amax(1), 4 * n),
        "var dim=1": (lambda: ex.var(1), lambda: tx.var(1), 4 * n),
        "logsumexp dim=1": (lambda: ex.logsumexp(1), lambda: tx.logsumexp(1), 4 * n),
        "cumsum dim=1": (lambda: ex.cumsum(1), lambda: tx.cumsum(1), 2 * 4 * n),
    }
    if torch is not None:
        tx, ty, tv = torch.from_numpy(xn), torch.from_numpy(yn), torch.from_numpy(vn)
    t_np = _median_time(lambda: np.copyto(dst, xn), reps, 3)
    copy_gbs = 2 * 4 * n / t_np / 1e9
    print(f"\n### Throughput: 16M float32 ({rows}x{cols}), {ember.get_num_threads()} threads (GB/s, median)\n")
    print(f"np.copyto reference: {copy_gbs:.1f} GB/s\n")
    print("| op | ember GB/s | torch GB/s | ember / np.copyto | ember / torch |")
    print("|---|---:|---:|---:|---:|")
    for name, (fe, ft, nbytes) in cases.items():
        fns = {"ember": fe}
        if torch is not None:
            fns["torch"] = ft
        t = _interleaved(fns, reps, 2, rewarm_s=rewarm_s)
        ge = nbytes / t["ember"] / 1e9
        gt = nbytes / t["torch"] / 1e9 if "torch" in t else float("nan")
        print(f"| {name} | {ge:.1f} | {gt:.1f} | {ge / copy_gbs:.0%} | {ge / gt:.2f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--only", choices=["overhead", "throughput"])
    ap.add_argument("--rewarm-ms", type=float, default=100.0,
                    help="untimed calls of each library for this long before each throughput sample, so "
                         "that the other library's spinning worker threads have gone (see _interleaved)")
    args = ap.parse_args()
    ember.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    print(f"ember {ember.__version__} (cpu path {ember.backends.cpu.capability()}), "
          f"torch {torch.__version__ if torch else 'not installed'}, threads={args.threads}")
    if args.only != "throughput":
        bench_overhead(args.reps)
    if args.only != "overhead":
        bench_throughput(args.reps, args.rewarm_ms / 1e3)


if __name__ == "__main__":
    main()
