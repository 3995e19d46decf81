"""F.interpolate ('nearest', 'nearest-exact', 'bilinear'/'linear') against a float64 NumPy reference
written from torch's index formulas, gradcheck of the backward, and torch itself when installed.

Run on both CPU kernel paths: EMBER_CPU_CAPABILITY=default and the native one.
"""
import math

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(0)


def t64(a, grad=True):
    return ember.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def ratio(inp, out, scale):
    return 1.0 / scale if scale else inp / out


def ref_axis(mode, inp, out, scale, align_corners):
    """Per output index: (i0, i1, weight of i0, weight of i1), as torch computes them (in float64)."""
    rows = []
    for o in range(out):
        if mode == "nearest":
            r = np.float32(ratio(inp, out, scale))
            i = o if out == inp else (o >> 1 if out == 2 * inp else min(int(math.floor(np.float32(o) * r)), inp - 1))
            rows.append((i, i, 1.0, 0.0))
        elif mode == "nearest-exact":
            r = np.float32(ratio(inp, out, scale))
            i = min(int(math.floor(np.float32((o + 0.5) * r))), inp - 1)
            rows.append((i, i, 1.0, 0.0))
        else:
            if align_corners:
                src = (inp - 1) / (out - 1) * o if out > 1 else 0.0
            else:
                src = max(ratio(inp, out, scale) * (o + 0.5) - 0.5, 0.0)
            i0 = min(int(math.floor(src)), inp - 1)
            lam = min(max(src - i0, 0.0), 1.0)
            rows.append((i0, i0 + (1 if i0 < inp - 1 else 0), 1.0 - lam, lam))
    return rows


def ref_interpolate(x, size, scales, mode, align_corners):
    """x (N, C, H, W); the separable weighted sum over the two source rows and columns."""
    H, W = x.shape[2:]
    hs = ref_axis(mode, H, size[0], scales[0], align_corners)
    ws = ref_axis(mode, W, size[1], scales[1], align_corners)
    Mh = np.zeros((size[0], H))
    for o, (a, b, la, lb) in enumerate(hs):
        Mh[o, a] += la
        Mh[o, b] += lb
    Mw = np.zeros((size[1], W))
    for o, (a, b, la, lb) in enumerate(ws):
        Mw[o, a] += la
        Mw[o, b] += lb
    return np.einsum("oh,nchw,pw->ncop", Mh, x, Mw)


MODES = [("nearest", None), ("nearest-exact", None), ("bilinear", False), ("bilinear", True)]
SIZES = [dict(size=(9, 4)), dict(size=(3, 2)), dict(scale_factor=2), dict(scale_factor=(0.6, 1.7)),
         dict(scale_factor=1.7, recompute_scale_factor=True), dict(size=1)]


@pytest.mark.parametrize("mode,align_corners", MODES)
@pytest.mark.parametrize("kwargs", SIZES)
def test_interpolate_matches_reference(mode, align_corners, kwargs):
    x = RNG.standard_normal((2, 3, 5, 7))
    sf = kwargs.get("scale_factor")
    if "size" in kwargs:
        size = kwargs["size"] if isinstance(kwargs["size"], tuple) else (kwargs["size"],) * 2
        scales = (None, None)
    else:
        sf = sf if isinstance(sf, tuple) else (sf, sf)
        size = tuple(int(math.floor(d * s)) for d, s in zip(x.shape[2:], sf))
        scales = (None, None) if kwargs.get("recompute_scale_factor") else sf
    ref = ref_interpolate(x, size, scales, mode, align_corners)
    got = F.interpolate(t64(x, False), mode=mode, align_corners=align_corners, **kwargs)
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-12)
    got32 = F.interpolate(ember.tensor(x.astype(np.float32)), mode=mode, align_corners=align_corners, **kwargs)
    np.testing.assert_allclose(got32.numpy(), ref, atol=1e-5)
    assert gradcheck(lambda a: F.interpolate(a, mode=mode, align_corners=align_corners, **kwargs), (t64(x[:1, :2]),))


def test_interpolate_second_derivatives_and_noncontiguous_input():
    x = t64(RNG.standard_normal((1, 2, 3, 4))).transpose(2, 3)
    assert not x.is_contiguous()
    assert gradgradcheck(lambda a: F.interpolate(a, scale_factor=1.5, mode="bilinear"), (x,))
    ref = ref_interpolate(x.detach().numpy(), (6, 4), (None, None), "nearest", None)
    np.testing.assert_allclose(F.interpolate(x, size=(6, 4)).detach().numpy(), ref)


@pytest.mark.parametrize("mode,align_corners", [("nearest", None), ("linear", False), ("linear", True)])
def test_interpolate_1d(mode, align_corners):
    x = RNG.standard_normal((2, 3, 5))
    m = "bilinear" if mode == "linear" else mode
    ref = ref_interpolate(x[:, :, None], (1, 12), (None, 2.5), m, align_corners)[:, :, 0]
    got = F.interpolate(t64(x, False), scale_factor=2.5, mode=mode, align_corners=align_corners)
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-12)
    assert gradcheck(lambda a: F.interpolate(a, size=7, mode=mode, align_corners=align_corners), (t64(x[:1]),))


def test_upsample_aliases():
    x = t64(RNG.standard_normal((1, 1, 3, 3)), False)
    np.testing.assert_allclose(F.upsample_nearest(x, scale_factor=2).numpy(),
                               F.interpolate(x, scale_factor=2).numpy())
    np.testing.assert_allclose(F.upsample_bilinear(x, size=5).numpy(),
                               F.interpolate(x, size=5, mode="bilinear", align_corners=True).numpy())
    np.testing.assert_allclose(F.upsample(x, size=4, mode="bilinear").numpy(),
                               F.interpolate(x, size=4, mode="bilinear").numpy())


@pytest.mark.parametrize("kwargs,exc,msg", [
    (dict(), ValueError, "either size or scale_factor should be defined"),
    (dict(size=2, scale_factor=2), ValueError, "only one of size or scale_factor"),
    (dict(size=2, align_corners=True), ValueError, "align_corners option can only be set"),
    (dict(size=(2, 2, 2)), ValueError, "same number of spatial dimensions"),
    (dict(size=2, mode="linear"), NotImplementedError, "linear mode needs 3D input"),
    (dict(size=2, mode="bicubic"), NotImplementedError, "bicubic"),
    (dict(size=2, mode="cubic"), ValueError, "unknown mode"),
    (dict(scale_factor=0.1), ValueError, "output sizes should be greater than 0"),
    (dict(size=2, recompute_scale_factor=True), ValueError, "recompute_scale_factor is not meaningful"),
])
def test_interpolate_errors(kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        F.interpolate(ember.zeros(1, 1, 4, 4), **kwargs)
    with pytest.raises(TypeError, match="float32 or float64"):
        F.interpolate(ember.zeros(1, 1, 4, 4, dtype=ember.int64), size=2)


@pytest.mark.parametrize("mode,align_corners", MODES)
def test_interpolate_matches_torch_when_installed(mode, align_corners):
    torch = pytest.importorskip("torch")
    for shape, kwargs in [((2, 3, 5, 7), dict(scale_factor=1.3)), ((1, 2, 7, 3), dict(size=(4, 11))),
                          ((1, 1, 6, 6), dict(scale_factor=(0.5, 3)))]:
        x = RNG.standard_normal(shape).astype(np.float32)
        xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y = F.interpolate(xe, mode=mode, align_corners=align_corners, **kwargs)
        r = torch.nn.functional.interpolate(xt, mode=mode, align_corners=align_corners, **kwargs)
        g = RNG.standard_normal(tuple(r.shape)).astype(np.float32)
        y.backward(ember.tensor(g))
        r.backward(torch.tensor(g))
        np.testing.assert_allclose(y.detach().numpy(), r.detach().numpy(), atol=1e-6)
        np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), atol=1e-5)
