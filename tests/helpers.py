"""Shared test helper: compare an ember op with a float64 NumPy reference, forward and backward
(tinygrad's helper_test_op idea), on contiguous, transposed and sliced (strided) inputs.

    check_op(lambda x: ember.sum(x, 1), lambda a: a.sum(1), (3, 7))

When a GPU is present, check_op also runs the op on CUDA copies of the inputs (same layouts):
the float32 and float64 forwards against the reference, and the CUDA gradients against the CPU
float64 gradients. Without CUDA nothing changes.
"""
from __future__ import annotations

import os

import numpy as np

import ember
from ember.autograd import gradcheck, gradgradcheck

LAYOUTS = ("contiguous", "transposed", "sliced")


def _as_array(spec, rng, low, high):
    if isinstance(spec, np.ndarray):
        return spec.astype(np.float64)
    return rng.uniform(low, high, size=tuple(spec)).astype(np.float64)


# The device of check_op's GPU pass: "cuda" when a GPU is present, else none. EMBER_TEST_GPU_AS_CPU=1
# (no GPU needed) lets the CPU stand in for it: a dry run of the test code, not a test of CUDA.
GPU = "cuda" if ember.cuda.is_available() else ("cpu" if os.environ.get("EMBER_TEST_GPU_AS_CPU") == "1" else None)


def make_tensor(a: np.ndarray, layout="contiguous", dtype=ember.float64, requires_grad=False, device="cpu"):
    """An ember tensor with a's values, laid out as asked: 'transposed' stores the last two dims
    swapped (a non-contiguous view), 'sliced' is every second element of a larger buffer. On
    another device the view is taken there, so the layout is the device tensor's own."""
    np_dtype = dtype.to_numpy()
    if layout == "transposed" and a.ndim >= 2:
        t = ember.tensor(np.ascontiguousarray(a.swapaxes(-1, -2)).astype(np_dtype), device=device).transpose(-1, -2)
    elif layout == "sliced" and a.ndim >= 1:
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1] + 1,), dtype=np_dtype)
        big[..., 1::2] = a
        if device == "cpu":
            t = ember.from_numpy(big[..., 1::2])  # a strided view of `big` (kept alive by the tensor)
        else:
            t = ember.tensor(big, device=device)[..., 1::2]
    else:
        t = ember.tensor(a.astype(np_dtype), device=device)
    if requires_grad:
        t.requires_grad_()
    return t


def _flat(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _compare(got, want, rtol, atol, what):
    got, want = _flat(got), _flat(want)
    assert len(got) == len(want), f"{what}: {len(got)} outputs, reference has {len(want)}"
    for g, w in zip(got, want):
        g = g.detach().cpu().numpy() if isinstance(g, ember.Tensor) else np.asarray(g)
        w = np.asarray(w)
        assert g.shape == w.shape, f"{what}: shape {g.shape} != reference {w.shape}"
        np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=rtol, atol=atol,
                                   err_msg=what)


def check_op(ember_fn, numpy_fn, *inputs, grad=True, gradgrad=False, layouts=LAYOUTS, low=-2.0, high=2.0,
             rtol=1e-4, atol=1e-5, seed=0, grad_inputs=None, cuda=True, cuda_rtol=None, cuda_atol=None):
    """Checks ember_fn(*tensors) against numpy_fn(*float64 arrays) in float32 and float64 on every
    layout, then gradcheck (and gradgradcheck when asked) in float64. `inputs` are shapes or
    arrays; `grad_inputs` lists the indices of inputs to differentiate (default: all).

    With a GPU (and cuda=True) the same layouts run on CUDA too: float32 forward and gradients
    within cuda_rtol/cuda_atol (default rtol/atol; pass 1e-3 for GEMM, conv and reductions),
    float64 ones within 1e-10 of the reference and 1e-9 of the CPU's float64 gradients."""
    rng = np.random.default_rng(seed)
    arrays = [_as_array(s, rng, low, high) for s in inputs]
    want = numpy_fn(*arrays)
    diff = range(len(arrays)) if grad_inputs is None else grad_inputs
    for layout in layouts:
        for dtype, tol in ((ember.float32, (rtol, atol)), (ember.float64, (1e-10, 1e-12))):
            ts = [make_tensor(a, layout, dtype) for a in arrays]
            _compare(ember_fn(*ts), want, *tol, f"forward {dtype} {layout}")
        if grad or gradgrad:
            ts = [make_tensor(a, layout, ember.float64, requires_grad=i in diff) for i, a in enumerate(arrays)]
            if grad:
                assert gradcheck(ember_fn, tuple(ts)), f"gradcheck failed ({layout})"
            if gradgrad:
                assert gradgradcheck(ember_fn, tuple(ts)), f"gradgradcheck failed ({layout})"
    if cuda and GPU:
        tol32 = (rtol if cuda_rtol is None else cuda_rtol, atol if cuda_atol is None else cuda_atol)
        _check_on_cuda(ember_fn, arrays, want, diff, layouts, grad or gradgrad, tol32, seed)


def _on_device(out, device, what):
    for o in _flat(out):
        if isinstance(o, ember.Tensor):
            assert o.device.type == device, f"{what}: an output is on {o.device}, expected {device}"


def weighted_gradients(ember_fn, arrays, layout, dtype, device, diff, seed=0):
    """d/d(inputs) of sum_k <out_k, w_k> for fixed random weights w_k (the same on every device)."""
    ts = [make_tensor(a, layout, dtype, requires_grad=i in diff, device=device) for i, a in enumerate(arrays)]
    outs = [o for o in _flat(ember_fn(*ts))
            if isinstance(o, ember.Tensor) and o.dtype.is_floating_point and o.requires_grad]
    rng = np.random.default_rng(seed + 1)
    loss = None
    for o in outs:
        w = ember.tensor(rng.standard_normal(tuple(o.shape)), dtype=o.dtype, device=device)
        term = (o * w).sum()
        loss = term if loss is None else loss + term
    if loss is None:
        return [None] * len(ts)
    loss.backward()
    return [t.grad for t in ts]


def _check_on_cuda(ember_fn, arrays, want, diff, layouts, grad, tol32, seed):
    for layout in layouts:
        for dtype, tol in ((ember.float32, tol32), (ember.float64, (1e-10, 1e-12))):
            ts = [make_tensor(a, layout, dtype, device=GPU) for a in arrays]
            out = ember_fn(*ts)
            _on_device(out, GPU, f"cuda forward {dtype} {layout}")
            _compare(out, want, *tol, f"cuda forward {dtype} {layout}")
        if not grad:
            continue
        ref = weighted_gradients(ember_fn, arrays, layout, ember.float64, "cpu", diff, seed)
        for dtype, tol in ((ember.float32, tol32), (ember.float64, (1e-9, 1e-11))):
            got = weighted_gradients(ember_fn, arrays, layout, dtype, GPU, diff, seed)
            for i, (g, r) in enumerate(zip(got, ref)):
                what = f"cuda grad of input {i}, {dtype} {layout}"
                assert (g is None) == (r is None), f"{what}: gradient is {g} but the CPU's is {r}"
                if g is not None:
                    _on_device(g, GPU, what)
                    _compare(g, r.numpy(), *tol, what)


def assert_same_structure(a, b):
    """Nested dicts/lists/tuples of tensors and plain values are equal, types and dtypes included
    (NaN equals NaN)."""
    if isinstance(a, ember.Tensor):
        assert isinstance(b, ember.Tensor) and a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape)
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b)
        for k in a:
            assert_same_structure(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same_structure(x, y)
    elif isinstance(a, float) and a != a:
        assert b != b
    else:
        assert type(a) is type(b) and a == b
