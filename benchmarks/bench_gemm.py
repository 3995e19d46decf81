"""float32 GEMM throughput: ember against NumPy (OpenBLAS) and torch, interleaved in one process, on
squares and on the products of training steps (the forward and both backward products of the MLP
and tall-skinny layers, and the im2col GEMMs of a 3x3 convolution). Prints one Markdown table of
GFLOP/s per thread count.

    python benchmarks/bench_gemm.py [--threads 2,1] [--only SUBSTRING] [--reps 9]

Method. A product is named M x K x N (A: M x K, B: K x N, 2*M*K*N flops). "Aᵀ"/"Bᵀ" mark an operand
that is stored transposed and read through its strides, as ember's linear backward does: the
forward X·Wᵀ reads the (out, in) weight transposed (ember runs it as F.linear(x, w), the path
nn.Linear takes; NumPy and torch as x @ w.T), dX = dY·W is plain, dW = dYᵀ·X reads dY transposed.
Each library's result is checked against a float64 product before timing. Then, per product, the
three libraries alternate for --reps rounds; each timed sample is `inner` calls (enough for about
--sample-ms) after untimed re-warm calls (one; with several threads, --rewarm-ms of them, so that
the previous library's spinning worker threads, OpenBLAS's above all, have stopped), and the table
shows the median. With one thread the
clock is process CPU time (a busy machine then steals less from the figure, and any thread a
library should not have used is still counted); with more, wall time.
Thread counts: ember.set_num_threads(n), torch.set_num_threads(n), and OpenBLAS limited with
threadpoolctl when it is installed, else by re-running this script with OPENBLAS_NUM_THREADS=n
(the header line says which, and the limit is verified where threadpoolctl can see it).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np

import ember
import ember.nn.functional as F
from bench_ops import _interleaved
from machine import header, load_average

try:
    import torch
except ImportError:  # the torch columns then show "–"
    torch = None

try:
    import threadpoolctl
except ImportError:  # OpenBLAS threads are then set through the environment of a child process
    threadpoolctl = None

MISSING = "–"


@dataclass(frozen=True)
class Product:
    group: str
    name: str
    M: int
    K: int
    N: int
    a_transposed: bool = False  # A is stored K x M and read through strides
    b_transposed: bool = False  # B is stored N x K (a weight matrix) and read through strides
    as_linear: bool = False     # ember runs it as F.linear(A, B_stored), the nn.Linear path

    def label(self):
        a = "Aᵀ" if self.a_transposed else "A"
        b = "Bᵀ" if self.b_transposed else "B"
        return f"{self.M}×{self.K}×{self.N} {a}·{b}"


def linear_layer_products(group, batch, fan_in, fan_out):
    """The three GEMMs of one nn.Linear training step: Y = X Wᵀ, dX = dY W, dW = dYᵀ X."""
    return [
        Product(group, f"{fan_in}→{fan_out} forward X·Wᵀ", batch, fan_in, fan_out, b_transposed=True, as_linear=True),
        Product(group, f"{fan_in}→{fan_out} dX = dY·W", batch, fan_out, fan_in),
        Product(group, f"{fan_in}→{fan_out} dW = dYᵀ·X", fan_out, batch, fan_in, a_transposed=True),
    ]


def all_products():
    products = [Product("square", f"square {n}", n, n, n) for n in (64, 128, 256, 512, 1024, 2048)]
    for fan_in, fan_out in ((784, 512), (512, 512), (512, 10)):
        products += linear_layer_products("mlp batch 128", 128, fan_in, fan_out)
    for fan_in, fan_out in ((42, 64), (64, 64)):
        products += linear_layer_products("tall-skinny batch 16384", 16384, fan_in, fan_out)
    # 3x3 conv 32 -> 64 channels, 14x14, batch 64, as one im2col GEMM: cols (N*H*W) x (C*3*3),
    # weights (O) x (C*3*3). Forward cols·Wᵀ, input gradient dcols = dY·W, dWᵀ = colsᵀ·dY.
    conv = "im2col conv 32→64 14×14 batch 64"
    rows, depth, out_ch = 64 * 14 * 14, 32 * 9, 64
    products += [
        Product(conv, "forward cols·Wᵀ", rows, depth, out_ch, b_transposed=True, as_linear=True),
        Product(conv, "dcols = dY·W", rows, out_ch, depth),
        Product(conv, "dWᵀ = colsᵀ·dY", depth, rows, out_ch, a_transposed=True),
    ]
    return products


class Operands:
    """A and B of one product in each library, sharing one float32 buffer per operand."""

    def __init__(self, p: Product, rng):
        a_store = rng.standard_normal((p.K, p.M) if p.a_transposed else (p.M, p.K), dtype=np.float32)
        b_store = rng.standard_normal((p.N, p.K) if p.b_transposed else (p.K, p.N), dtype=np.float32)
        self.a_np = a_store.T if p.a_transposed else a_store
        self.b_np = b_store.T if p.b_transposed else b_store
        self.b_store_ember = ember.from_numpy(b_store)
        a_e = ember.from_numpy(a_store)
        self.a_ember = a_e.T if p.a_transposed else a_e
        self.b_ember = self.b_store_ember.T if p.b_transposed else self.b_store_ember
        if torch is not None:
            a_t, b_t = torch.from_numpy(a_store), torch.from_numpy(b_store)
            self.a_torch = a_t.T if p.a_transposed else a_t
            self.b_torch = b_t.T if p.b_transposed else b_t

    def candidates(self, p: Product):
        if p.as_linear:
            def run_ember():
                return F.linear(self.a_ember, self.b_store_ember)
        else:
            def run_ember():
                return ember.matmul(self.a_ember, self.b_ember)
        fns = {"ember": run_ember, "OpenBLAS": lambda: self.a_np @ self.b_np}
        if torch is not None:
            fns["torch"] = lambda: torch.matmul(self.a_torch, self.b_torch)
        return fns


def check_results(p: Product, ops: Operands, fns):
    """Every library's product against float64, so that a broken kernel cannot post a number."""
    ref = ops.a_np.astype(np.float64) @ ops.b_np.astype(np.float64)
    # float32 accumulation of K products of unit normals: errors grow like sqrt(K) * eps * |ref|;
    # an indexing or packing bug gives errors of the order of |ref| itself.
    tol = 1e-5 * np.sqrt(p.K) * float(np.abs(ref).max()) + 1e-6
    for lib, f in fns.items():
        out = f()
        out = out.numpy() if hasattr(out, "numpy") else out
        if out.shape != ref.shape:
            raise AssertionError(f"{p.name}: {lib} gave shape {out.shape}, expected {ref.shape}")
        err = float(np.abs(out - ref).max())
        if not err <= tol:
            raise AssertionError(f"{p.name}: {lib} differs from the float64 product by {err:.3g} (tolerance {tol:.3g})")


def inner_calls(fns, sample_seconds, clock):
    """Calls per timed sample so that a sample lasts about `sample_seconds` (median of the libraries)."""
    single = []
    for f in fns.values():
        f()  # first call: allocation, packing buffers, thread start-up
        t0 = clock()
        f()
        single.append(max(clock() - t0, 1e-7))
    return max(1, round(sample_seconds / sorted(single)[len(single) // 2]))


@contextlib.contextmanager
def openblas_limited(n, method):
    """OpenBLAS at `n` threads: threadpoolctl's limit (checked), or the environment this process
    was started with (OPENBLAS_NUM_THREADS, set by the parent that re-ran the script)."""
    if method == "env":
        yield f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')} in the environment of a re-run child"
        return
    with threadpoolctl.threadpool_limits(limits=n, user_api="blas"):
        blas = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
        wrong = [i["filepath"] for i in blas if i["num_threads"] != n]
        if wrong:
            raise RuntimeError(f"threadpoolctl could not limit {wrong} to {n} threads")
        libs = ", ".join(f"{i['internal_api']} {i['version']}, {i.get('architecture', '?')} kernels" for i in blas)
        yield f"threadpoolctl.threadpool_limits({n}, user_api='blas') ({libs})"


def fmt(x, spec):
    return MISSING if x is None else format(x, spec)


def bench_threads(n, products, args, method):
    ember.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)
    clock_name = args.clock if args.clock != "auto" else ("cpu" if n == 1 else "wall")
    clock = time.process_time if clock_name == "cpu" else time.perf_counter
    rng = np.random.default_rng(0)
    with openblas_limited(n, method) as how:
        print(f"\n### float32 GEMM, {n} thread{'s' if n > 1 else ''} (GFLOP/s, median of {args.reps}, "
              f"{clock_name} clock)\n")
        print(f"OpenBLAS threads: {how}. {load_average()} at start.\n")
        print("| group | product | M×K×N | ember | OpenBLAS | torch | ember/OpenBLAS | ember/torch |")
        print("|---|---|---|---:|---:|---:|---:|---:|")
        for p in products:
            ops = Operands(p, rng)
            fns = ops.candidates(p)
            check_results(p, ops, fns)
            t = _interleaved(fns, args.reps, inner_calls(fns, args.sample_ms / 1e3, clock), clock=clock, rewarm=1,
                             settle_s=args.settle_ms / 1e3 if n > 1 else 0.0,
                             rewarm_s=args.rewarm_ms / 1e3 if n > 1 else 0.0)
            gflops = {lib: 2.0 * p.M * p.K * p.N / t[lib] / 1e9 for lib in t}
            e, o, tt = gflops["ember"], gflops["OpenBLAS"], gflops.get("torch")
            print(f"| {p.group} | {p.name} | {p.label()} | {e:.1f} | {o:.1f} | {fmt(tt, '.1f')} | "
                  f"{e / o:.2f} | {fmt(tt and e / tt, '.2f')} |", flush=True)
        print(f"\n{load_average()} at end.")


def rerun_per_thread_count(threads):
    """Without threadpoolctl: one child per thread count, OPENBLAS_NUM_THREADS set before NumPy loads."""
    rest, skip = [], False
    for a in sys.argv[1:]:  # drop --threads and its value; each child gets its own
        if skip:
            skip = False
        elif a == "--threads":
            skip = True
        elif not a.startswith("--threads="):
            rest.append(a)
    for n in threads:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(n), EMBER_BENCH_GEMM_CHILD="1")
        subprocess.run([sys.executable, os.path.abspath(__file__), "--threads", str(n), "--blas-limit", "env", *rest],
                       env=env, check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", default="2,1", help="comma-separated thread counts, one table each")
    ap.add_argument("--only", default="", help="run the products whose group or name contains this substring")
    ap.add_argument("--reps", type=int, default=9, help="timed rounds per product")
    ap.add_argument("--sample-ms", type=float, default=40, help="length of one timed sample")
    ap.add_argument("--rewarm-ms", type=float, default=100,
                    help="untimed calls before each multi-threaded sample, long enough for the previous library's "
                         "spinning threads to stop while this one keeps both cores busy (see bench_ops._interleaved)")
    ap.add_argument("--settle-ms", type=float, default=0,
                    help="idle time before each multi-threaded sample (on the 2-vCPU VM an idle pause makes the "
                         "next tens of ms run as if on one core, so off by default)")
    ap.add_argument("--clock", default="auto", choices=["auto", "wall", "cpu"],
                    help="auto: CPU time for 1 thread, wall time for more")
    ap.add_argument("--blas-limit", default="auto", choices=["auto", "threadpoolctl", "env"],
                    help="how OpenBLAS's thread count is set (auto: threadpoolctl when installed)")
    args = ap.parse_args()
    threads = [int(x) for x in args.threads.split(",")]
    method = args.blas_limit
    if method == "auto":
        method = "threadpoolctl" if threadpoolctl is not None else "env"
    if method == "threadpoolctl" and threadpoolctl is None:
        sys.exit("bench_gemm.py: --blas-limit threadpoolctl needs `pip install threadpoolctl`")
    if method == "env" and not os.environ.get("EMBER_BENCH_GEMM_CHILD"):
        rerun_per_thread_count(threads)
        return
    products = [p for p in all_products() if args.only in p.group or args.only in p.name]
    if not products:
        sys.exit(f"bench_gemm.py: no product matches --only {args.only!r}")
    print(header({"ember": f"{ember.__version__} ({ember.backends.cpu.capability()})", "numpy": np.__version__,
                  "torch": torch.__version__ if torch is not None else "not installed"}))
    blas_arch = ({i.get("architecture") for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}
                 if threadpoolctl else set())
    if ember.backends.cpu.detected_capability() == "avx512" and blas_arch & {"Haswell", "Zen"}:
        # OpenBLAS's DYNAMIC_ARCH takes its AVX2 kernels on CPUs it does not know (seen on Zen 5).
        print(f"\nNote: OpenBLAS chose its {'/'.join(sorted(blas_arch))} (AVX2) kernels on this AVX-512 CPU; "
              "OPENBLAS_CORETYPE=SkylakeX in the environment makes it use its AVX-512 ones.")
    for n in threads:
        bench_threads(n, products, args, method)


if __name__ == "__main__":
    main()
