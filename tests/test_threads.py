"""Thread safety: ember ops called from several Python threads at once give exactly the results of
the same calls made one after another, and the kernels release the GIL, so that other Python threads
run while a kernel computes."""
import sys
import threading
import time

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
import ember.optim as optim

THREADS = 4


def _run_concurrently(fns):
    """Runs each fn in its own thread, all released at once; returns their results in order and
    re-raises the first exception a thread raised."""
    barrier = threading.Barrier(len(fns))
    results, errors = [None] * len(fns), []

    def body(i):
        try:
            barrier.wait()
            results[i] = fns[i]()
        except BaseException as e:  # handed to the main thread
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def _inputs(seed):
    g = np.random.default_rng(seed)

    def t(*shape, requires_grad=False):
        return ember.from_numpy(g.standard_normal(shape).astype(np.float32)).requires_grad_(requires_grad)

    return {"a": t(96, 128), "b": t(128, 80), "bias": t(80), "img": t(4, 3, 20, 20, requires_grad=True),
            "w": t(8, 3, 3, 3, requires_grad=True), "logits": t(64, 10, requires_grad=True),
            "target": ember.from_numpy(g.integers(0, 10, 64)), "x": t(50000),
            "idx": ember.from_numpy(g.integers(0, 96, 200)), "m": t(256, 256)}


def _workload(inp):
    """A mix of every kernel family, forward and backward, some large enough to use the thread pool;
    returns NumPy copies of the results."""
    a, b = inp["a"], inp["b"]
    out = {"matmul": a @ b, "matmul_256": inp["m"] @ inp["m"], "linear": F.linear(a, b.t(), inp["bias"]), "sum0": a.sum(0),
           "var1": a.var(1), "max": a.max(1)[0], "softmax": F.log_softmax(a, 1),
           "eltwise": ember.where(a > 0, a.exp().tanh(), a * 0.5 + 1.0), "x_sum": inp["x"].sum(),
           "cumsum": ember.cumsum(inp["x"], 0), "gather": a[inp["idx"]], "mask": a[a > 1.0],
           "cat": ember.cat([a, a.flip(0)], 1), "clone_t": a.t().contiguous()}
    img, w = inp["img"], inp["w"]
    y = F.max_pool2d(F.relu(F.conv2d(img, w, padding=1)), 2)
    loss = F.cross_entropy(inp["logits"], inp["target"]) + y.square().mean()
    gi, gw, gl = ember.autograd.grad(loss, [img, w, inp["logits"]])
    out.update(conv_pool=y, loss=loss, grad_img=gi, grad_w=gw, grad_logits=gl)
    return {k: v.detach().numpy().copy() for k, v in out.items()}


def _assert_identical(got, want, label):
    for k in want:
        assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape, (label, k)
        assert np.array_equal(got[k], want[k], equal_nan=True), f"{label}: {k} differs from the serial result"


@pytest.mark.parametrize("threads", [1, 2], ids=["1 kernel thread", "2 kernel threads"])
def test_ops_from_concurrent_threads_match_serial_calls_exactly(threads):
    # Two input sets, each shared by two Python threads (a model read by several threads at once).
    previous = ember.get_num_threads()
    ember.set_num_threads(threads)
    try:
        inputs = [_inputs(0), _inputs(1)]
        serial = [_workload(inp) for inp in inputs]
        for _ in range(3):
            results = _run_concurrently([lambda i=i: [_workload(inputs[i % 2]) for _ in range(3)]
                                         for i in range(THREADS)])
            for i, runs in enumerate(results):
                for r in runs:
                    _assert_identical(r, serial[i % 2], f"thread {i}")
    finally:
        ember.set_num_threads(previous)


def _train(seed, steps=15):
    ember.manual_seed(seed)  # only the init draws from the default generator, before any thread starts
    model = nn.Sequential(nn.Linear(20, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 5))
    g = np.random.default_rng(seed)
    x = ember.from_numpy(g.standard_normal((steps, 16, 20)).astype(np.float32))
    y = ember.from_numpy(g.integers(0, 5, (steps, 16)))
    return model, x, y


def _fit(model, x, y):
    opt = optim.Adam(model.parameters(), lr=1e-2)
    for s in range(x.shape[0]):
        opt.zero_grad()
        F.cross_entropy(model(x[s]), y[s]).backward()
        opt.step()
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def test_training_in_concurrent_threads_matches_training_serially():
    """Forward, backward, autograd bookkeeping, BatchNorm running statistics and the fused Adam step
    of four models trained at once in four threads."""
    serial = [_fit(*_train(seed)) for seed in range(THREADS)]
    setups = [_train(seed) for seed in range(THREADS)]
    results = _run_concurrently([lambda s=s: _fit(*s) for s in setups])
    for i, (got, want) in enumerate(zip(results, serial)):
        _assert_identical(got, want, f"model {i}")


def test_concurrent_draws_from_one_generator_never_share_numbers():
    """Each draw reserves its own range of the Philox stream under a lock, so draws made by several
    threads at once are exactly the serial draws, in some order."""
    draws, size = 40, 1000
    gen = ember.Generator().manual_seed(7)
    serial = sorted(ember.randn(size, generator=gen).numpy().tobytes() for _ in range(draws))
    gen.manual_seed(7)
    per = draws // THREADS
    results = _run_concurrently([lambda: [ember.randn(size, generator=gen).numpy().tobytes()
                                          for _ in range(per)]] * THREADS)
    assert sorted(b for r in results for b in r) == serial


# ---- the GIL ----------------------------------------------------------------------------------
def _big(seed, *shape):
    return ember.from_numpy(np.random.default_rng(seed).random(shape, dtype=np.float32))


def _sgd_step(n):
    params = [_big(0, n).requires_grad_()]
    params[0].grad = _big(1, n)
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    opt.step()  # creates the momentum buffer; the calls measured are pure update steps
    return opt.step


def _case(name, k):
    """A call that spends its time in one kernel, for each kernel family; `k` scales its size.
    Returns the name of the _C function that runs the kernel and the call."""
    if name == "matmul":
        a, b = _big(0, 256 * k, 512), _big(1, 512, 512)
        return "matmul", lambda: a @ b
    if name == "conv2d":
        x, w = _big(0, k, 32, 64, 64), _big(1, 64, 32, 3, 3)
        return "conv2d", lambda: F.conv2d(x, w, padding=1)
    if name == "elementwise":
        x = _big(0, k, 1_000_000)
        return "unary", lambda: x.exp()
    if name == "reduction":
        x = _big(0, 1000 * k, 1000)
        return "reduce_stat", lambda: x.var(1)
    if name == "softmax":
        x = _big(0, 1000 * k, 1000)
        return "softmax", lambda: F.log_softmax(x, 1)
    if name == "copy":
        x = _big(0, 1000 * k, 1000)
        return "clone", lambda: x.t().contiguous()
    if name == "random":
        return "random_fill_", lambda: ember.randn(k, 250_000)
    if name == "full":
        return "full", lambda: ember.full((k, 8_000_000), 2.5)
    if name == "optimizer step":
        return "sgd_step", _sgd_step(k * 4_000_000)
    if name == "holds the GIL":  # the control: the builtin sum runs in C and never releases the GIL
        return "sum", lambda: sum(range(k * 300_000))
    raise ValueError(name)


def _long_call(name, seconds=0.02):
    """The case scaled up until one call takes `seconds`: long enough for the watching thread to be
    scheduled during it, even on a busy machine."""
    k = 1
    while True:
        target, call = _case(name, k)
        call()  # warm up: allocator cache, first touch
        durations = []
        for _ in range(2):
            start = time.perf_counter()
            call()
            durations.append(time.perf_counter() - start)
        if min(durations) >= seconds or k >= 64:
            return target, call
        k *= 2


def _python_ran_inside(name, max_calls=20):
    """Calls case `name` in this thread while a second thread watches, until the watcher has run
    Python while this thread was inside the kernel's _C function or `max_calls` calls are made.
    Returns how often the watcher saw that, and how many calls of the _C function were made.

    A profile hook marks the _C function's c_call and c_return events. The watcher holds the GIL
    whenever it runs, so it can see "inside" only if the function released the GIL, with one
    exception it excludes: this thread may hand over the GIL as the c_return hook starts (its frame
    is then on top), before the hook marks the call finished. Deterministic: no timing involved."""
    previous_threads = ember.get_num_threads()
    ember.set_num_threads(1)  # one kernel thread leaves a core for the watcher
    try:
        target, call = _long_call(name)
        inside, calls, stop = [False], [0], [False]

        def hook(frame, event, arg):
            if event in ("c_call", "c_return") and getattr(arg, "__name__", None) == target:
                calls[0] += event == "c_call"
                inside[0] = event == "c_call"

        me, hook_code, seen = threading.get_ident(), hook.__code__, [0]

        def watch():
            while not stop[0]:
                if inside[0]:
                    frame = sys._current_frames().get(me)
                    if frame is not None and frame.f_code is not hook_code:
                        seen[0] += 1

        watcher = threading.Thread(target=watch)
        watcher.start()
        previous_hook = sys.getprofile()
        sys.setprofile(hook)
        try:
            for _ in range(max_calls):
                call()
                if seen[0]:
                    break
        finally:
            sys.setprofile(previous_hook)
            stop[0] = True
            watcher.join()
    finally:
        ember.set_num_threads(previous_threads)
    return seen[0], calls[0]


CASES = ["matmul", "conv2d", "elementwise", "reduction", "softmax", "copy", "random", "full", "optimizer step"]


@pytest.mark.parametrize("name", CASES)
def test_kernels_release_the_gil(name):
    seen, calls = _python_ran_inside(name)
    assert calls > 0, f"{name}: the case never called its kernel's _C function"
    assert seen > 0, f"{name}: no Python ran in another thread during {calls} kernel calls: the GIL was held"


def test_the_gil_check_sees_a_call_that_holds_the_gil():
    """Control: the builtin sum over a range runs in C without ever releasing the GIL."""
    seen, calls = _python_ran_inside("holds the GIL")
    assert calls == 20 and seen == 0, (calls, seen)
