"""End-to-end training (and inference) benchmark: ember against PyTorch on the same small networks.

    python benchmarks/run.py [--device cpu|cuda] [--only NAME[,NAME]] [--reps N] [--inference]

Method. All timing happens in one process, with the same thread count for both frameworks
(--threads, default 2). For each workload (benchmarks/workloads.py) the torch model is built
first and its state_dict is copied through NumPy into the ember model, so both start from the
same weights and see the same data. One full step = forward, loss, backward, optimizer.step(),
zero_grad(). Before timing, the first two steps' losses are compared (check column: relative
difference; a warning when step 1 differs by more than 1e-4). Then warm-up steps, then --reps
interleaved samples (an ember sample, then a torch sample, alternating), each sample being
`inner` consecutive steps (1 for the large workloads, more for the tiny ones so that a sample
lasts at least ~20 ms); the table shows the median ms per step.

Peak RSS: each framework runs each workload alone in a fresh child process
(`--child NAME --framework ember|torch`), which reports its peak resident set (VmHWM, see
_peak_rss_kb for why not ru_maxrss) after 10 training (or inference) steps; the ember child never
imports torch.

--inference: eval() + no_grad() forward only, for mlp, cnn and resnet.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import cpu_model as _cpu_model  # noqa: E402
from workloads import FREQS, WORKLOADS  # noqa: E402

TORCH_HINT = "PyTorch is needed for the comparison: pip install torch==2.13.0"
CHECK_RTOL = 1e-4


def _import_torch():
    try:
        import torch
    except ImportError:
        sys.exit(f"benchmarks/run.py: torch is not installed. {TORCH_HINT}")
    return torch


# ---- one framework's step -------------------------------------------------------------------------
class Runner:
    """A workload instantiated in one framework: model, optimizer, device tensors, step()."""

    def __init__(self, lib, w, x_np, y_np, device, inference, model=None):
        self.lib, self.w, self.device, self.inference = lib, w, device, inference
        self.model = (model if model is not None else w.build(lib)).to(device)
        self.x = lib.from_numpy(x_np.copy()).to(device)
        self.y = lib.from_numpy(y_np.copy()).to(device)
        self.freqs = lib.from_numpy(FREQS.copy()).to(device) if w.encode else None
        F = lib.nn.functional
        self.loss_fn = F.cross_entropy if w.loss == "xent" else F.mse_loss
        if inference:
            self.model.eval()
            self.opt = None
        else:
            self.model.train()
            self.opt = w.optimizer(lib, self.model.parameters())
        self.sync = _synchronizer(lib, device)

    def _forward(self):
        x = self.w.encode(self.lib, self.x, self.freqs) if self.w.encode else self.x
        return self.model(x)

    def step(self):
        if self.inference:
            with self.lib.no_grad():
                return self._forward()
        loss = self.loss_fn(self._forward(), self.y)
        loss.backward()
        self.opt.step()
        self.opt.zero_grad()
        return loss


def _synchronizer(lib, device):
    if device == "cuda":
        return lib.cuda.synchronize
    return lambda: None


def _copy_weights(tmodel, emodel, ember):
    """torch state_dict -> NumPy -> ember tensors -> ember load_state_dict (strict)."""
    sd = {k: ember.from_numpy(v.detach().cpu().numpy().copy()) for k, v in tmodel.state_dict().items()}
    emodel.load_state_dict(sd)


def _rel(a, b):
    return abs(a - b) / max(abs(b), 1e-12)


def _check(er, tr, inference):
    """Relative difference of step 1 (and step 2) losses; in inference, of the outputs."""
    if inference:
        eo = er.step().cpu().numpy().astype(np.float64)
        to = tr.step().detach().cpu().numpy().astype(np.float64)
        return [float(np.abs(eo - to).max() / max(np.abs(to).max(), 1e-12))]
    out = []
    for _ in range(2):
        le, lt = er.step(), tr.step()
        out.append(_rel(float(le.item()), float(lt.item())))
    return out


# ---- timing ---------------------------------------------------------------------------------------
def _time_steps(runner, n):
    runner.sync()
    t0 = time.perf_counter()
    for _ in range(n):
        runner.step()
    runner.sync()
    return (time.perf_counter() - t0) / n


# Idle time before each sample. Both frameworks keep their worker threads spinning for a while
# after their last parallel region (torch's libgomp for milliseconds by default, ember's pool for
# 0.1 ms); without a pause the previous sample's spinning threads could hold the cores during the
# first steps of the next one. The pause treats both frameworks alike.
SETTLE_S = 0.05
# ...but after the pause, the first steps pay for waking the idle CPUs: on the 2-vCPU VM a 50 ms
# idle made ember's next 2-thread mlp step take 16 ms instead of 8 (torch's 15 instead of 11), as
# if single-threaded. So each sample starts with untimed steps (at least REWARM_S of them, and
# at least 2), and only the steps after them are timed: the steady state of a training loop.
REWARM_S = 0.02


def _interleaved(runners, reps, warmup, min_sample_s=0.02):
    """Warm-up, pick `inner` so a sample lasts >= min_sample_s, then alternate samples (each after
    SETTLE_S of idle time and REWARM_S of untimed steps); median s/step."""
    for r in runners.values():
        for _ in range(warmup):
            r.step()
    probe = max(_time_steps(r, 3) for r in runners.values())
    inner = max(1, int(min_sample_s / max(probe, 1e-9)))
    rewarm = max(2, int(REWARM_S / max(probe, 1e-9)))
    samples = {k: [] for k in runners}
    for _ in range(reps):
        for k, r in runners.items():
            time.sleep(SETTLE_S)
            _time_steps(r, rewarm)
            samples[k].append(_time_steps(r, inner))
    return {k: statistics.median(v) for k, v in samples.items()}, inner


# ---- peak RSS, in a child process per framework ---------------------------------------------------
def _peak_rss_kb():
    """Peak resident set of this process in KiB: VmHWM of /proc/self/status where there is one.

    Not ru_maxrss alone: Linux carries the *parent's* high-water mark across fork + execve into
    the child's ru_maxrss, so a child started by this (torch-importing) parent would report at
    least the parent's peak. VmHWM belongs to the new address space and starts afresh at exec.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _child(args):
    if args.framework == "torch":
        lib = _import_torch()
    else:
        import ember as lib
    lib.manual_seed(0)
    lib.set_num_threads(args.threads)
    w = WORKLOADS[args.child]
    x, y = w.data(np.random.default_rng(0))
    base = _peak_rss_kb()
    r = Runner(lib, w, x, y, args.device, args.inference)
    for _ in range(args.rss_steps):
        r.step()
    r.sync()
    print(json.dumps({"peak_kb": _peak_rss_kb(), "base_kb": base,
                      "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def _child_rss(name, framework, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", name, "--framework", framework,
           "--device", args.device, "--threads", str(args.threads)]
    if args.inference:
        cmd.append("--inference")
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["?"])[-1]
        return None, last
    d = json.loads(p.stdout.strip().splitlines()[-1])
    return d, None


def _mb(kb):
    return f"{kb / 1024:.0f}"


# ---- report ---------------------------------------------------------------------------------------
def _where_it_failed(exc):
    """'Type: message (at file:line in func)' of the innermost frame inside benchmarks/ or ember."""
    frames = traceback.extract_tb(exc.__traceback__)
    site = ""
    for f in frames:
        if "benchmarks" in f.filename or "/ember/" in f.filename:
            site = f"{os.path.basename(f.filename)}:{f.lineno} `{(f.line or '').strip()}`"
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} (at {site})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--only", default="", help="comma-separated workload names (" + ", ".join(WORKLOADS) + ")")
    ap.add_argument("--reps", type=int, default=20, help="interleaved samples per framework (median)")
    ap.add_argument("--warmup", type=int, default=5, help="warm-up steps per framework after the check")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--inference", action="store_true", help="eval + no_grad forward of mlp, cnn, resnet")
    ap.add_argument("--no-rss", action="store_true", help="skip the peak-RSS child processes")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--framework", choices=["ember", "torch"], help=argparse.SUPPRESS)
    ap.add_argument("--rss-steps", type=int, default=10, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        return _child(args)

    torch = _import_torch()
    import ember

    names = [n for n in args.only.split(",") if n] or list(WORKLOADS)
    for n in names:
        if n not in WORKLOADS:
            sys.exit(f"unknown workload {n!r}; choose from {', '.join(WORKLOADS)}")
    if args.inference:
        names = [n for n in names if WORKLOADS[n].inference]
    if args.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("--device cuda: torch sees no CUDA device (a CPU-only torch build?)")
        if not ember.cuda.is_available():
            sys.exit("--device cuda: ember sees no CUDA device (ember._C.has_cuda is "
                     f"{ember._C.has_cuda})")

    ember.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    mode = "inference (eval + no_grad forward)" if args.inference else "training step (fwd, loss, bwd, opt step, zero_grad)"
    print(f"# ember vs torch: {mode}\n")
    print(f"{datetime.datetime.now().astimezone().isoformat(timespec='seconds')} | CPU: {_cpu_model()} "
          f"({os.cpu_count()} logical CPUs) | threads: {args.threads} each | device: {args.device} | "
          f"ember {ember.__version__} cpu path {ember.backends.cpu.capability()} | torch {torch.__version__} | "
          f"load avg {' '.join(f'{x:.2f}' for x in os.getloadavg())} | reps {args.reps}, warm-up {args.warmup}\n")
    rss_note = "peak RSS MB (training)" if not args.inference else "peak RSS MB (inference)"
    print(f"| workload | ember ms/step | torch ms/step | ember/torch | target | ember {rss_note} | "
          f"torch {rss_note} | check ({'output' if args.inference else 'loss'} rel. diff, step 1; step 2) |")
    print("|---|---:|---:|---:|---:|---:|---:|---|", flush=True)

    problems = []
    for name in names:
        w = WORKLOADS[name]
        row = {"ember": "–", "torch": "–", "ratio": "–", "check": ""}
        x, y = w.data(np.random.default_rng(0))
        try:
            torch.manual_seed(0)
            tr = Runner(torch, w, x, y, args.device, args.inference)
            stage = "build the ember model"
            emodel = w.build(ember)
            stage = "copy weights (state_dict -> numpy -> load_state_dict)"
            _copy_weights(tr.model, emodel, ember)
            stage = "set up the ember run"
            er = Runner(ember, w, x, y, args.device, args.inference, model=emodel)
            stage = "first steps (correctness check)"
            diffs = _check(er, tr, args.inference)
            ok = diffs[0] <= CHECK_RTOL
            row["check"] = ("ok " if ok else "⚠ MISMATCH ") + "; ".join(f"{d:.1e}" for d in diffs)
            if not ok:
                problems.append(f"{name}: step-1 {'output' if args.inference else 'loss'} differs by "
                                f"{diffs[0]:.2e} relative (> {CHECK_RTOL:g})")
            stage = "timing"
            t, inner = _interleaved({"ember": er, "torch": tr}, args.reps, args.warmup)
            te, tt = t["ember"] * 1e3, t["torch"] * 1e3
            ratio = te / tt
            row.update(ember=f"{te:.3f}", torch=f"{tt:.3f}", ratio=f"**{ratio:.2f}**" if ratio <= w.target
                       else f"{ratio:.2f}")
            if inner > 1:
                row["check"] += f" (×{inner} steps/sample)"
            del er, tr, emodel
        except Exception as exc:  # report the failing call and go on with the next workload
            msg = _where_it_failed(exc)
            row["check"] = f"⚠ ember failed in {stage}: {msg}"
            problems.append(f"{name}: {stage}: {msg}")
        rss = {}
        for fw in ("ember", "torch"):
            if args.no_rss:
                rss[fw] = "–"
                continue
            d, err = _child_rss(name, fw, args)
            if d is None:
                rss[fw] = "error"
                problems.append(f"{name}: RSS child ({fw}) failed: {err}")
            else:
                rss[fw] = f"{_mb(d['peak_kb'])} (import+data {_mb(d['base_kb'])})"
        target = f"≤{w.target:g}" if not args.inference else "–"
        print(f"| {name} | {row['ember']} | {row['torch']} | {row['ratio']} | {target} | {rss['ember']} | "
              f"{rss['torch']} | {row['check']} |", flush=True)

    print(f"\nload avg at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}. Ratio in bold: at or under target. "
          "RSS: peak resident set (VmHWM) of a child process running that workload alone (10 steps); in brackets the peak "
          "after imports and data, before the model.")
    if problems:
        print("\nProblems:")
        for p in problems:
            print(f"- {p}")


if __name__ == "__main__":
    main()
