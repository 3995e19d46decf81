"""ember.nn.functional against float64 NumPy references (forward) and gradcheck (backward).

Run on both CPU kernel paths: EMBER_CPU_CAPABILITY=default and the native one.
"""
import math

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck



def gradgradcheck(fn, inputs):
    """Second derivatives through gradcheck of x, go -> d<fn(x), go>/dx (built with create_graph).

    ember.autograd.gradgradcheck evaluates its inner function under no_grad, so it cannot be used yet.
    """
    (x,) = inputs
    go = ember.tensor(np.random.default_rng(1).standard_normal(tuple(x.shape)), requires_grad=True)

    def first(xv, g):
        with ember.enable_grad():
            xx = xv if xv.requires_grad else xv.detach().requires_grad_()
            (d,) = ember.autograd.grad(fn(xx), xx, g, create_graph=True)
        return d
    return gradcheck(first, (x, go))

RNG = np.random.default_rng(0)


def t64(a, grad=True):
    return ember.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def close(x, ref, atol=1e-10, rtol=1e-8):
    np.testing.assert_allclose(np.asarray(x.detach().numpy() if isinstance(x, ember.Tensor) else x), ref,
                               atol=atol, rtol=rtol)


def np_log_softmax(x, dim):
    m = x.max(axis=dim, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=dim, keepdims=True))


# ---- softmax ------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,dim", [((3, 7), 1), ((3, 7), 0), ((2, 5, 4, 3), 1), ((2, 5, 4, 3), -1),
                                       ((2, 5, 40), 1), ((6,), 0)])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_matches_reference_over_any_dim(shape, dim, log):
    a = RNG.standard_normal(shape)
    ref = np_log_softmax(a, dim)
    fn = F.log_softmax if log else F.softmax
    close(fn(t64(a, False), dim), ref if log else np.exp(ref))
    assert gradcheck(lambda x: fn(x, dim), (t64(a),))
    assert gradgradcheck(lambda x: fn(x, dim), (t64(a),))


def test_softmax_float32_and_noncontiguous_input():
    a = RNG.standard_normal((2, 3, 5, 6)).astype(np.float32)
    x = ember.tensor(a).transpose(2, 3)
    close(F.softmax(x, 2), np.exp(np_log_softmax(a.transpose(0, 1, 3, 2).astype(np.float64), 2)), atol=1e-6,
          rtol=1e-5)
    xg = t64(a).transpose(2, 3)
    assert gradcheck(lambda x: F.log_softmax(x, 2), (xg,))


@pytest.mark.parametrize("n", [1, 15, 16, 17, 31, 33, 70, 1000, 4095, 4096, 4097, 5003])
def test_float32_row_softmax_family_matches_float64_for_every_row_length(n):
    # The float32 row kernels (vec_math::max_exp_sum_f32 / exp_sum_lanes): the row max, then 16-lane
    # exponentials whose last partial vector overlaps the one before; rows up to 4096 in two passes,
    # longer ones in blocks. Rows mix ordinary values, terms below exp's normal range (x - max < -88),
    # -inf entries, and rows holding a NaN or +inf.
    rng = np.random.default_rng(n)
    a = rng.standard_normal((6, n)).astype(np.float32) * 3
    a[1, ::3] -= 95.0                      # exp(x - max) of these is subnormal or 0 in float32
    a[2, ::5] = -np.inf
    a[3] -= 1e4                            # a large shift
    if n > 1:
        a[4, n // 2] = np.nan
        a[5, n - 1] = np.inf
    x = ember.tensor(a)
    a64 = a.astype(np.float64)
    with np.errstate(invalid="ignore"):
        m = a64.max(1, keepdims=True)
        lse = m + np.log(np.exp(a64 - m).sum(1, keepdims=True))
        lp = a64 - lse
    lse[5] = np.inf if n > 1 else lse[5]   # a +inf logit: logsumexp is +inf (softmax: NaN, below)
    lse[np.isneginf(a64).all(1)] = -np.inf  # all -inf (n = 1): -inf (softmax: NaN, as NumPy's)
    np.testing.assert_allclose(ember.logsumexp(x, 1).numpy(), lse[:, 0], rtol=2e-6, atol=2e-6)
    rows = slice(0, 5 if n > 1 else 6)
    np.testing.assert_allclose(F.log_softmax(x, 1).numpy()[rows], lp[rows], rtol=2e-6, atol=3e-5)
    np.testing.assert_allclose(F.softmax(x, 1).numpy()[rows], np.exp(lp[rows]), rtol=2e-6, atol=1e-44)
    t = rng.integers(0, n, 6)
    want = -lp[np.arange(6), t]
    np.testing.assert_allclose(F.cross_entropy(x, ember.tensor(t), reduction="none").numpy()[rows], want[rows],
                               rtol=2e-6, atol=3e-5)


def test_log_softmax_is_stable():
    assert F.log_softmax(ember.tensor([1.0, 2.0, 3000.0]), 0).tolist() == [-2999.0, -2998.0, 0.0]


# ---- cross-entropy / nll ------------------------------------------------------------------------
def np_cross_entropy(x, t, weight=None, ignore_index=-100, reduction="mean", ls=0.0):
    C = x.shape[1]
    logp = np_log_softmax(x, 1)
    w = np.ones(C) if weight is None else weight
    logp = np.moveaxis(logp, 1, -1).reshape(-1, C)
    if t.dtype.kind == "f":
        y = np.moveaxis(t, 1, -1).reshape(-1, C) * (1 - ls) + ls / C
        loss = -(y * w * logp).sum(1)
        shape = (x.shape[0],) + x.shape[2:]
        if reduction == "none":
            return loss.reshape(shape)
        return loss.sum() if reduction == "sum" else loss.sum() / loss.size
    tf = t.reshape(-1)
    keep = tf != ignore_index
    ts = np.where(keep, tf, 0)
    nll = -w[ts] * logp[np.arange(len(ts)), ts] * keep
    smooth = -(logp * w).sum(1) * keep
    loss = (1 - ls) * nll + ls / C * smooth
    if reduction == "none":
        return loss.reshape(t.shape)
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / (w[ts] * keep).sum()


@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 5), (2, 3, 4, 3)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ls", [0.0, 0.2])
def test_cross_entropy_class_targets(shape, reduction, weighted, ls):
    x = RNG.standard_normal(shape)
    C = shape[1]
    t = RNG.integers(0, C, size=(shape[0],) + shape[2:])
    t.reshape(-1)[0] = -100
    w = RNG.uniform(0.5, 2.0, C) if weighted else None
    wt = t64(w, False) if weighted else None
    got = F.cross_entropy(t64(x, False), ember.tensor(t), weight=wt, reduction=reduction, label_smoothing=ls)
    close(got, np_cross_entropy(x, t, w, reduction=reduction, ls=ls))
    assert gradcheck(lambda a: F.cross_entropy(a, ember.tensor(t), weight=wt, reduction=reduction,
                                               label_smoothing=ls), (t64(x),))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_probability_targets(reduction):
    x = RNG.standard_normal((4, 5, 3))
    y = RNG.uniform(size=(4, 5, 3))
    y /= y.sum(1, keepdims=True)
    w = RNG.uniform(0.5, 2.0, 5)
    got = F.cross_entropy(t64(x, False), t64(y, False), weight=t64(w, False), reduction=reduction,
                          label_smoothing=0.1)
    close(got, np_cross_entropy(x, y, w, reduction=reduction, ls=0.1))
    assert gradcheck(lambda a: F.cross_entropy(a, t64(y, False), weight=t64(w, False), reduction=reduction,
                                               label_smoothing=0.1), (t64(x),))


def test_cross_entropy_is_shift_invariant_and_float32():
    x = RNG.standard_normal((8, 10)).astype(np.float32)
    t = ember.tensor(RNG.integers(0, 10, 8))
    a = F.cross_entropy(ember.tensor(x), t).item()
    b = F.cross_entropy(ember.tensor(x) + 1e4, t).item()
    assert a == pytest.approx(b, rel=1e-4)
    assert a == pytest.approx(np_cross_entropy(x.astype(np.float64), t.numpy()), rel=1e-5)


def test_cross_entropy_errors():
    x = ember.randn(3, 5)
    with pytest.raises(IndexError, match="Target 12 is out of bounds"):
        F.cross_entropy(x, ember.tensor([0, 12, 1]))
    with pytest.raises(ValueError, match=r"\[3, 5\].*target shape \[2\]"):
        F.cross_entropy(x, ember.tensor([0, 1]))
    with pytest.raises(ValueError):
        F.cross_entropy(x, ember.randn(3, 4))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_matches_reference(reduction):
    x = np_log_softmax(RNG.standard_normal((6, 4)), 1)
    t = RNG.integers(0, 4, 6)
    t[2] = 1
    w = RNG.uniform(0.5, 2, 4)
    got = F.nll_loss(t64(x, False), ember.tensor(t), weight=t64(w, False), ignore_index=1, reduction=reduction)
    keep = t != 1
    loss = -w[t] * x[np.arange(6), t] * keep
    ref = loss if reduction == "none" else loss.sum() if reduction == "sum" else loss.sum() / (w[t] * keep).sum()
    close(got, ref)
    assert gradcheck(lambda a: F.nll_loss(a, ember.tensor(t), weight=t64(w, False), ignore_index=1,
                                          reduction=reduction), (t64(x),))


# ---- normalisation ------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 5, 7)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_reference(shape, training):
    x = RNG.standard_normal(shape) * 3 + 5
    C = shape[1]
    w, b = RNG.standard_normal(C), RNG.standard_normal(C)
    rm0, rv0 = RNG.standard_normal(C), RNG.uniform(0.5, 2, C)
    rm, rv = t64(rm0, False), t64(rv0, False)
    y = F.batch_norm(t64(x, False), rm, rv, t64(w, False), t64(b, False), training=training, momentum=0.2,
                     eps=1e-5)
    axes = tuple(i for i in range(len(shape)) if i != 1)
    bshape = (1, C) + (1,) * (len(shape) - 2)
    if training:
        mean, var = x.mean(axes), x.var(axes)
        n = x.size // C
        close(rm, 0.8 * rm0 + 0.2 * mean)
        close(rv, 0.8 * rv0 + 0.2 * var * n / (n - 1))
    else:
        mean, var = rm0, rv0
    ref = (x - mean.reshape(bshape)) / np.sqrt(var.reshape(bshape) + 1e-5) * w.reshape(bshape) + b.reshape(bshape)
    close(y, ref, atol=1e-9)
    assert gradcheck(lambda a, ww, bb: F.batch_norm(a, t64(rm0, False), t64(rv0, False), ww, bb,
                                                    training=training), (t64(x), t64(w), t64(b)))


@pytest.mark.parametrize("plane", [1, 7, 15, 16, 17, 64, 196, 255, 256, 257, 784])
def test_batch_norm_float32_matches_float64_reference_for_every_plane_size(plane):
    # float32 sums run in vector lanes over blocks of up to 256 elements of each (n, c) plane, with
    # the last plane % 16 elements added one by one: these sizes take every branch of that loop.
    # The offset of 50 checks that the statistics are taken around a shift, not from raw sums.
    x = (RNG.standard_normal((5, 3, plane)) * 2 + 50).astype(np.float32)
    dy = RNG.standard_normal(x.shape).astype(np.float32)
    w, b = RNG.uniform(0.5, 2, 3), RNG.standard_normal(3)
    xt = ember.tensor(x, requires_grad=True)
    wt = ember.tensor(w.astype(np.float32), requires_grad=True)
    bt = ember.tensor(b.astype(np.float32), requires_grad=True)
    y = F.batch_norm(xt, None, None, wt, bt, training=True)
    y.backward(ember.tensor(dy))
    xd, gd = x.astype(np.float64), dy.astype(np.float64)
    mean, var = xd.mean((0, 2), keepdims=True), xd.var((0, 2), keepdims=True)
    xhat = (xd - mean) / np.sqrt(var + 1e-5)
    ref = xhat * w.reshape(1, 3, 1) + b.reshape(1, 3, 1)
    n = x.size // 3
    dxhat = gd * w.reshape(1, 3, 1)
    dx = (dxhat - dxhat.mean((0, 2), keepdims=True) - xhat * (dxhat * xhat).mean((0, 2), keepdims=True)) \
        / np.sqrt(var + 1e-5)
    close(y, ref, atol=2e-5, rtol=1e-5)
    close(xt.grad, dx, atol=2e-5 * math.sqrt(n), rtol=1e-4)
    close(wt.grad, (gd * xhat).sum((0, 2)), atol=2e-5 * n, rtol=1e-4)
    close(bt.grad, gd.sum((0, 2)), atol=2e-6 * n, rtol=1e-5)


def test_batch_norm_one_value_per_channel_errors():
    with pytest.raises(ValueError, match=r"Expected more than 1 value per channel when training, got input size "
                                         r"\[1, 3\]"):
        F.batch_norm(ember.randn(1, 3), None, None, training=True)


@pytest.mark.parametrize("shape,ns", [((4, 6), (6,)), ((2, 3, 4, 5), (4, 5)), ((3, 5), (5,))])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_matches_reference(shape, ns, affine):
    x = RNG.standard_normal(shape) + 4
    w = RNG.standard_normal(ns) if affine else None
    b = RNG.standard_normal(ns) if affine else None
    axes = tuple(range(len(shape) - len(ns), len(shape)))
    ref = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + 1e-5)
    if affine:
        ref = ref * w + b
    args = (t64(w, False), t64(b, False)) if affine else (None, None)
    close(F.layer_norm(t64(x, False), ns, *args), ref, atol=1e-9)
    if affine:
        assert gradcheck(lambda a, ww, bb: F.layer_norm(a, ns, ww, bb), (t64(x), t64(w), t64(b)))
    else:
        assert gradcheck(lambda a: F.layer_norm(a, ns), (t64(x),))


def test_group_norm_matches_reference():
    x = RNG.standard_normal((2, 6, 3, 5))
    w, b = RNG.standard_normal(6), RNG.standard_normal(6)
    g = x.reshape(2, 3, -1)
    ref = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + 1e-5)).reshape(x.shape)
    ref = ref * w.reshape(1, 6, 1, 1) + b.reshape(1, 6, 1, 1)
    close(F.group_norm(t64(x, False), 3, t64(w, False), t64(b, False)), ref, atol=1e-9)
    assert gradcheck(lambda a, ww, bb: F.group_norm(a, 3, ww, bb), (t64(x), t64(w), t64(b)))
    with pytest.raises(ValueError):
        F.group_norm(t64(x, False), 4)


# ---- pooling ------------------------------------------------------------------------------------
def out_size(n, k, s, p, d, ceil):
    o = (n + 2 * p - d * (k - 1) - 1 + ((s - 1) if ceil else 0)) // s + 1
    if ceil and (o - 1) * s >= n + p:
        o -= 1
    return o


def np_max_pool(x, k, s, p, d, ceil):
    N, C, H, W = x.shape
    oH, oW = out_size(H, k, s, p, d, ceil), out_size(W, k, s, p, d, ceil)
    y = np.full((N, C, oH, oW), -np.inf)
    idx = np.zeros((N, C, oH, oW), dtype=np.int64)
    for i in range(oH):
        for j in range(oW):
            for a in range(k):
                for b in range(k):
                    h, w = i * s - p + a * d, j * s - p + b * d
                    if 0 <= h < H and 0 <= w < W:
                        v = x[:, :, h, w]
                        better = v > y[:, :, i, j]
                        y[:, :, i, j] = np.where(better, v, y[:, :, i, j])
                        idx[:, :, i, j] = np.where(better, h * W + w, idx[:, :, i, j])
    return y, idx


def np_avg_pool(x, k, s, p, ceil, cip, div):
    N, C, H, W = x.shape
    oH, oW = out_size(H, k, s, p, 1, ceil), out_size(W, k, s, p, 1, ceil)
    y = np.zeros((N, C, oH, oW))
    for i in range(oH):
        for j in range(oW):
            h0, w0 = i * s - p, j * s - p
            h1, w1 = min(h0 + k, H + p), min(w0 + k, W + p)
            size = (h1 - h0) * (w1 - w0)
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, H), min(w1, W)
            cnt = div or (size if cip else (h1 - h0) * (w1 - w0))
            y[:, :, i, j] = x[:, :, h0:h1, w0:w1].sum((2, 3)) / cnt
    return y


POOL_GRID = [(k, s, p, d, c) for k in (1, 2, 3) for s in (1, 2, 3) for p in (0, 1) for d in (1, 2)
             for c in (False, True) if p <= ((k - 1) * d + 1) // 2]


def np_max_pool_first(x, k, s, p, d, ceil):
    """max_pool2d with index semantics: the first maximum in row-major window order wins ties; NaN
    wins and the first NaN stays; a window of -inf keeps its first valid element's index."""
    N, C, H, W = x.shape
    oH, oW = out_size(H, k, s, p, d, ceil), out_size(W, k, s, p, d, ceil)
    y = np.empty((N, C, oH, oW), x.dtype)
    idx = np.empty((N, C, oH, oW), np.int64)
    for n, c, i, j in np.ndindex(N, C, oH, oW):
        best, bi = -np.inf, None
        for a in range(k):
            for b in range(k):
                h, w = i * s - p + a * d, j * s - p + b * d
                if 0 <= h < H and 0 <= w < W:
                    v = x[n, c, h, w]
                    if bi is None:
                        bi = h * W + w
                    if not np.isnan(best) and (v > best or np.isnan(v)):
                        best, bi = v, h * W + w
        y[n, c, i, j], idx[n, c, i, j] = best, bi
    return y, idx


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k,s,p,d,ceil", POOL_GRID)
def test_max_pool2d_ties_nan_and_minus_inf_pick_torchs_index(k, s, p, d, ceil, dtype):
    rng = np.random.default_rng(k * 100 + s * 10 + p + d)
    x = rng.integers(0, 3, (2, 3, 9, 7)).astype(dtype)  # many ties
    x[0, 0][rng.random((9, 7)) < 0.15] = np.nan
    x[0, 1] = -np.inf
    x[1, 2][rng.random((9, 7)) < 0.5] = -np.inf
    if out_size(7, k, s, p, d, ceil) <= 0:
        return
    y, idx = F.max_pool2d(ember.from_numpy(x), k, s, p, d, ceil, return_indices=True)
    ry, ridx = np_max_pool_first(x, k, s, p, d, ceil)
    np.testing.assert_array_equal(y.numpy(), ry)
    np.testing.assert_array_equal(idx.numpy(), ridx)


@pytest.mark.parametrize("k,s,p,d,ceil", [g for g in POOL_GRID if g[1] <= 2])
def test_max_pool2d_wide_rows_ties_and_nan(k, s, p, d, ceil):
    # Rows of 23-45 outputs: the float32 row pass takes eight outputs at a time (stride 1 or 2)
    # between the padded edges, with the same tie and NaN rules as the scalar outputs around it.
    rng = np.random.default_rng(k * 100 + s * 10 + p + d)
    x = rng.integers(0, 3, (1, 3, 5, 45)).astype(np.float32)
    x[0, 0][rng.random((5, 45)) < 0.15] = np.nan
    x[0, 1][rng.random((5, 45)) < 0.7] = -np.inf
    y, idx = F.max_pool2d(ember.from_numpy(x), k, s, p, d, ceil, return_indices=True)
    ry, ridx = np_max_pool_first(x, k, s, p, d, ceil)
    np.testing.assert_array_equal(y.numpy(), ry)
    np.testing.assert_array_equal(idx.numpy(), ridx)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k,s,p,d", [(5, 1, 2, 1), (5, 2, 1, 2), (4, 2, 2, 1), (7, 3, 3, 1), (5, 4, 0, 1), (3, 1, 1, 3)])
def test_max_pool2d_large_windows_wide_rows(k, s, p, d, dtype):
    # Windows wider than the row pass's padding of one, several vectors of outputs per row (16
    # float32 or 8 float64 lanes; strides of 3 and more take the scalar loop), ties, NaN and -inf:
    # values and indices as torch, the same values without indices (the inference path), and the
    # backward scattering each gradient to its index.
    rng = np.random.default_rng(k * 100 + s * 10 + p + d)
    x = rng.integers(0, 3, (2, 2, 11, 70)).astype(dtype)
    x[0, 0][rng.random((11, 70)) < 0.15] = np.nan
    x[1, 1][rng.random((11, 70)) < 0.6] = -np.inf
    for ceil in (False, True):
        ry, ridx = np_max_pool_first(x, k, s, p, d, ceil)
        y, idx = F.max_pool2d(ember.from_numpy(x), k, s, p, d, ceil, return_indices=True)
        np.testing.assert_array_equal(y.numpy(), ry)
        np.testing.assert_array_equal(idx.numpy(), ridx)
        np.testing.assert_array_equal(F.max_pool2d(ember.from_numpy(x), k, s, p, d, ceil).numpy(), ry)
        g = rng.standard_normal(ry.shape).astype(dtype)
        xg = ember.from_numpy(x).requires_grad_(True)
        F.max_pool2d(xg, k, s, p, d, ceil).backward(ember.from_numpy(g))
        want = np.zeros(x.shape).reshape(4, -1)
        np.add.at(want, (np.arange(4)[:, None], ridx.reshape(4, -1)), g.reshape(4, -1))
        np.testing.assert_allclose(xg.grad.numpy().reshape(4, -1), want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("k,s,p", [(5, 1, 2), (5, 2, 1), (4, 2, 2), (7, 3, 3), (5, 4, 0), (6, 1, 3)])
@pytest.mark.parametrize("cip", [True, False])
def test_avg_pool2d_large_windows_wide_rows(k, s, p, cip):
    # Up to seven output rows cover one input row in the backward's ring; rows of several vectors
    # of outputs; strides of 3 and more take the scalar loops. float32 and float64 forward against
    # NumPy, both backwards against each other, gradcheck on a narrower float64 input.
    x = RNG.standard_normal((2, 2, 13, 70))
    for ceil in (False, True):
        want = np_avg_pool(x, k, s, p, ceil, cip, None)
        grads = []
        for dtype, tol in ((np.float32, 1e-5), (np.float64, 1e-12)):
            xt = ember.tensor(x.astype(dtype), requires_grad=True)
            y = F.avg_pool2d(xt, k, s, p, ceil, cip)
            close(y.detach(), want, atol=tol, rtol=tol)
            y.backward(ember.tensor(np.linspace(-1, 1, y.numel()).reshape(tuple(y.shape)).astype(dtype)))
            grads.append(xt.grad.numpy().astype(np.float64))
        np.testing.assert_allclose(grads[0], grads[1], atol=1e-6, rtol=1e-5)
    assert gradcheck(lambda a: F.avg_pool2d(a, k, s, p, True, cip), (t64(x[:1, :1, :9, :29]),))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hw", [(6, 70), (5, 35), (4, 64), (3, 2)])
def test_max_pool2d_2x2_wide_rows_ties_and_nan(hw, dtype):
    # The 2x2 stride-2 fast path takes sixteen (AVX-512) or eight (AVX2) float outputs at a time:
    # rows of 35 outputs (whole groups and a tail), 17 (an odd input width: the last column is in
    # no window), 32 and 1. float64 (and the portable build) take the general row passes, except
    # for float64 indices on the portable build; values alone (inference) and with indices.
    rng = np.random.default_rng(hw[1])
    x = rng.integers(0, 3, (2, 3) + hw).astype(dtype)
    x[0, 0][rng.random(hw) < 0.2] = np.nan
    x[0, 1] = -np.inf
    x[1, 2][rng.random(hw) < 0.5] = -np.inf
    xe = ember.from_numpy(x)
    y, idx = F.max_pool2d(xe, 2, 2, return_indices=True)
    ry, ridx = np_max_pool_first(x, 2, 2, 0, 1, False)
    np.testing.assert_array_equal(y.numpy(), ry)
    np.testing.assert_array_equal(F.max_pool2d(xe, 2, 2).numpy(), ry)
    np.testing.assert_array_equal(idx.numpy(), ridx)
    # A non-contiguous view of the same values gives the same result.
    xt = ember.from_numpy(np.ascontiguousarray(x.transpose(0, 1, 3, 2))).transpose(2, 3)
    yt, it = F.max_pool2d(xt, 2, 2, return_indices=True)
    np.testing.assert_array_equal(yt.numpy(), ry)
    np.testing.assert_array_equal(it.numpy(), ridx)
    # Backward writes dx directly: each output's gradient at its index, zero elsewhere (also in
    # the rows and columns no window covers); negative zeros and NaNs pass through unchanged.
    g = rng.standard_normal(ry.shape).astype(dtype)
    g.reshape(-1)[::7] = -0.0
    g.reshape(-1)[::11] = np.nan
    xg = ember.from_numpy(x).requires_grad_(True)
    F.max_pool2d(xg, 2, 2).backward(ember.from_numpy(g))
    want = np.zeros(x.shape, dtype).reshape(6, -1)
    np.put_along_axis(want, ridx.reshape(6, -1), g.reshape(6, -1), axis=1)
    np.testing.assert_array_equal(xg.grad.numpy().reshape(6, -1).view(np.uint8), want.view(np.uint8))


@pytest.mark.parametrize("k,s,p,d,ceil", POOL_GRID)
def test_max_pool2d_matches_reference(k, s, p, d, ceil):
    x = RNG.standard_normal((2, 2, 7, 5))
    if out_size(5, k, s, p, d, ceil) <= 0:
        return
    y, idx = F.max_pool2d(t64(x, False), k, s, p, d, ceil, return_indices=True)
    ry, ridx = np_max_pool(x, k, s, p, d, ceil)
    close(y, ry)
    assert (idx.numpy() == ridx).all()
    assert gradcheck(lambda a: F.max_pool2d(a, k, s, p, d, ceil), (t64(x),))


@pytest.mark.parametrize("size", [1, 5, 13])
def test_max_pool2d_odd_sizes_and_noncontiguous(size):
    x = RNG.standard_normal((1, 3, size, size + 2))
    xt = t64(x).transpose(2, 3)
    ry, _ = np_max_pool(x.transpose(0, 1, 3, 2), 3, 2, 1, 1, True)
    close(F.max_pool2d(xt, 3, 2, 1, ceil_mode=True), ry)
    assert gradcheck(lambda a: F.max_pool2d(a, 3, 2, 1, ceil_mode=True), (xt,))


@pytest.mark.parametrize("k,s,p,ceil", [(k, s, p, c) for k in (1, 2, 3) for s in (1, 2, 3) for p in (0, 1)
                                        for c in (False, True) if p <= k // 2])
@pytest.mark.parametrize("cip", [True, False])
def test_avg_pool2d_matches_reference(k, s, p, ceil, cip):
    x = RNG.standard_normal((2, 2, 7, 5))
    close(F.avg_pool2d(t64(x, False), k, s, p, ceil, cip), np_avg_pool(x, k, s, p, ceil, cip, None))
    assert gradcheck(lambda a: F.avg_pool2d(a, k, s, p, ceil, cip), (t64(x),))


@pytest.mark.parametrize("k,s,p", [(k, s, p) for k in (1, 2, 3) for s in (1, 2, 3) for p in (0, 1) if p <= k // 2])
@pytest.mark.parametrize("cip", [True, False])
def test_avg_pool2d_float32_wide_rows(k, s, p, cip):
    # Rows wide enough that most windows are whole (the vector path) with clipped ones at both
    # edges; the float32 backward against the float64 one (gradcheck covers that one).
    x = RNG.standard_normal((2, 3, 13, 37))
    close(F.avg_pool2d(ember.tensor(x.astype(np.float32)), k, s, p, True, cip),
          np_avg_pool(x, k, s, p, True, cip, None), atol=1e-6, rtol=1e-5)
    grads = []
    for dtype in (np.float32, np.float64):
        xt = ember.tensor(x.astype(dtype), requires_grad=True)
        y = F.avg_pool2d(xt, k, s, p, True, cip)
        y.backward(ember.tensor(np.linspace(-1, 1, y.numel()).reshape(tuple(y.shape)).astype(dtype)))
        grads.append(xt.grad.numpy().astype(np.float64))
    np.testing.assert_allclose(grads[0], grads[1], atol=1e-6, rtol=1e-5)


def test_avg_pool2d_divisor_override():
    x = RNG.standard_normal((1, 2, 5, 5))
    close(F.avg_pool2d(t64(x, False), 3, 2, 1, divisor_override=4), np_avg_pool(x, 3, 2, 1, False, True, 4))
    assert gradcheck(lambda a: F.avg_pool2d(a, 3, 2, 1, divisor_override=4), (t64(x),))


@pytest.mark.parametrize("insize,outsize", [((7, 5), (3, 2)), ((5, 5), (5, 5)), ((13, 7), (4, 1)), ((1, 1), (2, 3))])
def test_adaptive_pools_match_reference(insize, outsize):
    x = RNG.standard_normal((2, 3) + insize)
    H, W = insize
    oH, oW = outsize
    ravg = np.zeros((2, 3, oH, oW))
    rmax = np.zeros((2, 3, oH, oW))
    for i in range(oH):
        for j in range(oW):
            h0, h1 = i * H // oH, -(-(i + 1) * H // oH)
            w0, w1 = j * W // oW, -(-(j + 1) * W // oW)
            ravg[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean((2, 3))
            rmax[:, :, i, j] = x[:, :, h0:h1, w0:w1].max((2, 3))
    close(F.adaptive_avg_pool2d(t64(x, False), outsize), ravg)
    y, idx = F.adaptive_max_pool2d(t64(x, False), outsize, return_indices=True)
    close(y, rmax)
    assert idx.dtype == ember.int64
    assert gradcheck(lambda a: F.adaptive_avg_pool2d(a, outsize), (t64(x),))
    assert gradcheck(lambda a: F.adaptive_max_pool2d(a, outsize), (t64(x),))


def test_pool_errors():
    x = ember.randn(1, 1, 5, 5)
    with pytest.raises(ValueError, match="pad should be at most half of effective kernel size, but got pad=2, "
                                         "kernel_size=3 and dilation=1"):
        F.max_pool2d(x, 3, padding=2)
    with pytest.raises(ValueError):
        F.max_pool2d(x, 3, stride=0)
    with pytest.raises(ValueError):
        F.max_pool2d(x, 0)
    with pytest.raises(ValueError):
        F.max_pool2d(x, 2, dilation=0)
    with pytest.raises(ValueError, match="too small"):
        F.max_pool2d(x, 6)
    with pytest.raises(ValueError):
        F.avg_pool2d(x, 3, padding=2)


# ---- activations --------------------------------------------------------------------------------
def _erf(a):
    return np.vectorize(math.erf)(a)


SELU_A, SELU_S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
ACTS = {
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), lambda a: np.where(a > 0, a, 0.1 * a)),
    "elu": (lambda x: F.elu(x, 0.7), lambda a: np.where(a > 0, a, 0.7 * np.expm1(a))),
    "selu": (F.selu, lambda a: SELU_S * np.where(a > 0, a, SELU_A * np.expm1(a))),
    "celu": (lambda x: F.celu(x, 2.0), lambda a: np.where(a > 0, a, 2.0 * np.expm1(a / 2.0))),
    "gelu": (F.gelu, lambda a: 0.5 * a * (1 + _erf(a / math.sqrt(2)))),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  lambda a: 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a ** 3)))),
    "silu": (F.silu, lambda a: a / (1 + np.exp(-a))),
    "mish": (F.mish, lambda a: a * np.tanh(np.log1p(np.exp(a)))),
    "softplus": (lambda x: F.softplus(x, 2.0, 3.0), lambda a: np.where(2 * a > 3, a, np.log1p(np.exp(2 * a)) / 2)),
    "hardtanh": (lambda x: F.hardtanh(x, -0.5, 0.8), lambda a: np.clip(a, -0.5, 0.8)),
    "relu6": (F.relu6, lambda a: np.clip(a, 0, 6)),
    "hardswish": (F.hardswish, lambda a: a * np.clip(a + 3, 0, 6) / 6),
    "hardsigmoid": (F.hardsigmoid, lambda a: np.clip(a / 6 + 0.5, 0, 1)),
    "relu": (F.relu, lambda a: np.maximum(a, 0)),
}


def _act_input(shape=(3, 4, 5)):
    a = RNG.uniform(-5, 5, shape)
    # Keep away from the kinks where finite differences are meaningless.
    for kink in (0.0, -3.0, 3.0, -0.5, 0.8, 6.0, 1.5):
        a = np.where(np.abs(a - kink) < 1e-3, a + 0.01, a)
    return a


@pytest.mark.parametrize("name", sorted(ACTS))
def test_activation_matches_reference_with_grad_and_gradgrad(name):
    fn, ref = ACTS[name]
    a = _act_input()
    close(fn(t64(a, False)), ref(a), atol=1e-12)
    assert gradcheck(fn, (t64(a),))
    assert gradgradcheck(fn, (t64(a),))
    x32 = ember.tensor(a.astype(np.float32)).transpose(0, 2)
    close(fn(x32), ref(a.astype(np.float32).astype(np.float64).transpose(2, 1, 0)), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["leaky_relu", "elu", "selu", "hardtanh", "relu6", "hardswish", "hardsigmoid",
                                  "silu", "mish", "relu"])
def test_activation_inplace(name):
    fn, ref = ACTS[name]
    a = _act_input()
    kw = {"inplace": True}
    inplace = {"leaky_relu": lambda x: F.leaky_relu(x, 0.1, **kw), "elu": lambda x: F.elu(x, 0.7, **kw),
               "hardtanh": lambda x: F.hardtanh(x, -0.5, 0.8, **kw)}.get(name)
    if inplace is None:
        inplace = lambda x: getattr(F, name)(x, inplace=True)  # noqa: E731
    x = t64(a, False)
    out = inplace(x)
    assert out is x
    close(x, ref(a), atol=1e-12)
    leaf = t64(a)
    assert gradcheck(lambda v: inplace(v * 1.0), (leaf,))


def test_prelu():
    a = _act_input((2, 3, 4))
    w = np.array([0.1, -0.2, 0.3])
    close(F.prelu(t64(a, False), t64(w, False)), np.where(a > 0, a, w.reshape(1, 3, 1) * a))
    assert gradcheck(lambda x, ww: F.prelu(x, ww), (t64(a), t64(w)))
    assert gradcheck(lambda x, ww: F.prelu(x, ww), (t64(a), t64([0.25])))


# ---- dropout ------------------------------------------------------------------------------------
def test_dropout_scales_and_is_reproducible():
    x = ember.ones(1000, 10)
    ember.manual_seed(3)
    y = F.dropout(x, 0.3)
    ember.manual_seed(3)
    y2 = F.dropout(x, 0.3)
    assert (y.numpy() == y2.numpy()).all()
    vals = np.unique(y.numpy())
    assert len(vals) == 2 and vals[0] == 0 and abs(vals[1] - 1 / 0.7) < 1e-6
    assert abs((y.numpy() == 0).mean() - 0.3) < 0.02
    assert F.dropout(x, 0.3, training=False) is x
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        F.dropout(x, 1.5)
    assert (F.dropout(x, 1.0).numpy() == 0).all()


def test_dropout_grad_and_dropout2d_zeroes_channels():
    x = t64(RNG.standard_normal((4, 8, 3, 3)))
    ember.manual_seed(0)
    y = F.dropout2d(x, 0.5)
    ch = y.detach().numpy().reshape(4, 8, -1)
    assert all((c == 0).all() or (c != 0).all() for c in ch.reshape(32, -1))
    y.sum().backward()
    g = x.grad.numpy().reshape(32, -1)
    assert set(np.unique(g).round(6)) <= {0.0, 2.0}
    xi = ember.ones(10)
    ember.manual_seed(1)
    assert F.dropout(xi, 0.5, inplace=True) is xi


# ---- losses -------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses(reduction):
    a, b = RNG.standard_normal((3, 5)) * 2, RNG.standard_normal((3, 5))
    d = a - b
    red = {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction]
    cases = [
        (lambda x, y: F.mse_loss(x, y, reduction=reduction), d ** 2),
        (lambda x, y: F.l1_loss(x, y, reduction=reduction), np.abs(d)),
        (lambda x, y: F.smooth_l1_loss(x, y, reduction=reduction, beta=0.5),
         np.where(np.abs(d) < 0.5, 0.5 * d ** 2 / 0.5, np.abs(d) - 0.25)),
        (lambda x, y: F.huber_loss(x, y, reduction=reduction, delta=0.7),
         np.where(np.abs(d) < 0.7, 0.5 * d ** 2, 0.7 * (np.abs(d) - 0.35))),
    ]
    for fn, ref in cases:
        close(fn(t64(a, False), t64(b, False)), red(ref))
        assert gradcheck(fn, (t64(a), t64(b)))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy(reduction):
    p = RNG.uniform(0.05, 0.95, (4, 3))
    y = RNG.uniform(0, 1, (4, 3))
    w = RNG.uniform(0.5, 2, (4, 3))
    red = {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction]
    ref = -(y * np.log(p) + (1 - y) * np.log(1 - p)) * w
    close(F.binary_cross_entropy(t64(p, False), t64(y, False), t64(w, False), reduction=reduction), red(ref))
    assert gradcheck(lambda a: F.binary_cross_entropy(a, t64(y, False), t64(w, False), reduction=reduction),
                     (t64(p),))
    assert F.binary_cross_entropy(t64([0.0]), t64([1.0])).item() == 100.0
    with pytest.raises(ValueError):
        F.binary_cross_entropy(t64(p), t64(y[:2]))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_with_logits(reduction):
    x = RNG.standard_normal((4, 3)) * 3
    y = RNG.uniform(0, 1, (4, 3))
    pw = RNG.uniform(0.5, 2, 3)
    red = {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction]
    sp = np.log1p(np.exp(-x))
    ref = (1 - y) * x + ((pw - 1) * y + 1) * sp
    close(F.binary_cross_entropy_with_logits(t64(x, False), t64(y, False), reduction=reduction,
                                             pos_weight=t64(pw, False)), red(ref))
    assert gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction,
                                                                     pos_weight=t64(pw, False)),
                     (t64(x), t64(y)))


def test_binary_cross_entropy_with_logits_is_stable_at_120():
    x = t64([120.0, -120.0, 120.0, -120.0])
    y = t64([0.0, 1.0, 1.0, 0.0], False)
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    close(loss, [120.0, 120.0, 0.0, 0.0], atol=1e-12)
    loss.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    close(x.grad, [1.0, -1.0, 0.0, 0.0], atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target):
    x = np_log_softmax(RNG.standard_normal((4, 5)), 1)
    t = np.exp(np_log_softmax(RNG.standard_normal((4, 5)), 1))
    t[0, 0] = 0.0
    tt = np.log(np.where(t > 0, t, 1e-300)) if log_target else t
    ref = np.where(t > 0, t * (np.log(np.where(t > 0, t, 1)) - x), 0.0)
    red = {"mean": np.mean, "sum": np.sum, "none": lambda v: v, "batchmean": lambda v: v.sum() / 4}[reduction]
    close(F.kl_div(t64(x, False), t64(tt, False), reduction=reduction, log_target=log_target), red(ref))
    assert gradcheck(lambda a: F.kl_div(a, t64(tt, False), reduction=reduction, log_target=log_target), (t64(x),))
