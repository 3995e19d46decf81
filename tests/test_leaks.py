"""Memory leaks: a training step of the benchmark MLP leaves nothing behind. The objects a step creates
are freed by reference counting alone (no reference cycles for the garbage collector to find), the
allocator's live bytes, the number of live tensors and the reference counts of the long-lived objects
return to their values after every step, and resident memory stays flat: over a few hundred steps
always, over 10,000 steps in the `slow` run."""
import ctypes
import gc
import os
import sys
import weakref

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
import ember.optim as optim


def _mlp(seed=0):
    """The "mlp" workload of benchmarks/workloads.py (built here: the wheel test copies only tests/):
    Linear 784-512-512-10 + ReLU, batch 128, cross-entropy, SGD with momentum 0.9."""
    ember.manual_seed(seed)
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(seed)
    x = ember.from_numpy(rng.standard_normal((128, 784), dtype=np.float32))
    y = ember.from_numpy(rng.integers(0, 10, 128))
    return model, opt, x, y


def _step(model, opt, x, y):
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss.item()


def _live_tensors():
    return sum(isinstance(o, ember.Tensor) for o in gc.get_objects())


def _allocated_bytes():
    return ember._C.memory_stats(0)["allocated_bytes"]  # the CPU allocator's bytes in live blocks


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _under_asan():
    # ASan's quarantine holds freed memory back and its shadow grows with it: RSS says nothing there.
    return hasattr(ctypes.CDLL(None), "__asan_init")


needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads RSS from /proc")


def test_a_training_step_creates_no_reference_cycles():
    """With the collector off, everything a step made must already be gone when it returns."""
    model, opt, x, y = _mlp()
    for _ in range(3):
        _step(model, opt, x, y)
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            opt.zero_grad()
            out = model(x)
            loss = F.cross_entropy(out, y)
            loss.backward()
            opt.step()
            refs = [weakref.ref(out), weakref.ref(loss)]
            del out, loss
            assert all(r() is None for r in refs), "a step's output survives without the collector"
        unreachable = gc.collect()
    finally:
        gc.enable()
    assert unreachable == 0, f"20 training steps left {unreachable} objects in reference cycles"


def test_every_step_returns_allocator_tensors_and_refcounts_to_baseline():
    model, opt, x, y = _mlp()
    for _ in range(3):  # the momentum buffers and the allocator's cache are made in the first steps
        _step(model, opt, x, y)
    # Not the grads: zero_grad() sets them to None and backward() makes new ones each step.
    long_lived = [model, opt, x, y] + list(model.parameters()) + [s["momentum_buffer"] for s in opt.state.values()]
    gc.collect()
    baseline = (_allocated_bytes(), _live_tensors(), [sys.getrefcount(o) for o in long_lived])
    for i in range(50):
        _step(model, opt, x, y)
        now = (_allocated_bytes(), _live_tensors(), [sys.getrefcount(o) for o in long_lived])
        assert now[0] == baseline[0], f"step {i}: {now[0] - baseline[0]} more bytes allocated than before"
        assert now[1] == baseline[1], f"step {i}: {now[1] - baseline[1]} more live tensors than before"
        assert now[2] == baseline[2], f"step {i}: reference counts changed: {baseline[2]} -> {now[2]}"


def _rss_growth(steps, warmup):
    """Relative growth of resident memory from after `warmup` steps to after `steps` more, and the
    two RSS values."""
    model, opt, x, y = _mlp()
    for _ in range(warmup):
        _step(model, opt, x, y)
    gc.collect()
    before = _rss_bytes()
    for _ in range(steps):
        _step(model, opt, x, y)
    gc.collect()
    after = _rss_bytes()
    return (after - before) / before, before, after


@needs_proc
def test_resident_memory_is_flat_over_300_steps():
    if _under_asan():
        pytest.skip("RSS under AddressSanitizer includes its quarantine")
    growth, before, after = _rss_growth(steps=300, warmup=50)
    assert growth < 0.01, f"RSS grew {growth:.2%} ({before >> 20} -> {after >> 20} MiB) over 300 steps"


@pytest.mark.slow
@needs_proc
def test_resident_memory_is_flat_over_10000_steps():
    if _under_asan():
        pytest.skip("RSS under AddressSanitizer includes its quarantine")
    # Resident memory settles over the first ~2,000 steps (about 0.3 MiB more, with the allocator's
    # live bytes and the object counts already constant), then stays flat to the page.
    growth, before, after = _rss_growth(steps=10_000, warmup=1_000)
    print(f"\nmlp, 10000 steps: RSS {before / 2**20:.1f} -> {after / 2**20:.1f} MiB ({growth:+.3%})")
    assert growth < 0.01, f"RSS grew {growth:.2%} ({before >> 20} -> {after >> 20} MiB) over 10,000 steps"
