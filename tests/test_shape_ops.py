"""Views (narrow, split, chunk, unbind, select, movedim, diagonal, unfold) and copying shape ops
(cat, stack, flip, roll, repeat, tile, tril, triu, pad) against float64 NumPy, with gradients."""
import numpy as np
import pytest

import ember
from ember.autograd import gradcheck, gradgradcheck


from ember._functions.copying import pad


def _t(a, grad=False):
    return ember.tensor(np.asarray(a), requires_grad=grad)


def _close(t, ref):
    a = t.detach().numpy()
    assert a.shape == np.asarray(ref).shape, (a.shape, np.asarray(ref).shape)
    np.testing.assert_allclose(a, ref, rtol=1e-12, atol=1e-12)


@pytest.fixture
def a(rng):
    return rng.standard_normal((3, 5, 4))


# ---- views --------------------------------------------------------------------------------------
def test_narrow_select_share_storage_and_match(a):
    x = _t(a)
    n = x.narrow(1, 1, 3)
    _close(n, a[:, 1:4])
    assert n._c.shares_storage(x._c)
    _close(ember.narrow(x, -1, -2, 2), a[..., 2:4])
    _close(x.select(1, -1), a[:, -1])
    _close(ember.select(x.narrow(2, 1, 2), 0, 2), a[2, :, 1:3])   # view of a view
    with pytest.raises(IndexError, match="select"):
        x.select(0, 3)
    with pytest.raises(RuntimeError, match="exceeds dimension size"):
        x.narrow(0, 2, 2)


def test_split_chunk_unbind_tensor_split(a):
    x = _t(a)
    for got, ref in zip(x.split(2, 1), np.split(a, [2, 4], 1)):
        _close(got, ref)
    for got, ref in zip(ember.split(x, [1, 3, 1], dim=-2), np.split(a, [1, 4], 1)):
        _close(got, ref)
    assert [c.shape[1] for c in x.chunk(3, 1)] == [2, 2, 1]
    assert [c.shape[0] for c in x.chunk(5)] == [1, 1, 1]
    for got, ref in zip(x.unbind(2), np.moveaxis(a, 2, 0)):
        _close(got, ref)
    for got, ref in zip(ember.tensor_split(x, 3, 1), np.array_split(a, 3, 1)):
        _close(got, ref)
    assert len(ember.zeros(0, 2).chunk(3)) == 3
    with pytest.raises(RuntimeError, match="split_with_sizes"):
        x.split([1, 1], 0)


def test_movedim_diagonal_unfold(a, rng):
    x = _t(a)
    _close(x.movedim(0, -1), np.moveaxis(a, 0, -1))
    _close(ember.movedim(x, (0, 1), (2, 0)), np.moveaxis(a, (0, 1), (2, 0)))
    for off in (-2, 0, 1, 3, 7):
        _close(x.diagonal(off, 1, 2), np.diagonal(a, off, 1, 2))
    b = rng.standard_normal((7, 3))
    u = _t(b).unfold(0, 3, 2)
    ref = np.stack([b[i:i + 3].T for i in range(0, 5, 2)])
    _close(u, ref)


def test_view_gradients(a):
    x = _t(a, grad=True)
    assert gradcheck(lambda t: t.narrow(1, 1, 3), (x,))
    assert gradcheck(lambda t: t.transpose(0, 2).select(1, 2), (x,))
    assert gradcheck(lambda t: t.split([2, 3], 1)[1] * t.chunk(2, 1)[0][:, :1], (x,))
    assert gradcheck(lambda t: t.unbind(0)[2], (x,))
    assert gradcheck(lambda t: t.diagonal(1, 1, 2), (x,))
    assert gradcheck(lambda t: t.unfold(1, 3, 1), (x,))       # overlapping windows accumulate
    assert gradgradcheck(lambda t: t.narrow(2, 1, 2) ** 2, (x,))


# ---- cat / stack --------------------------------------------------------------------------------
def test_cat_matches_numpy_with_non_contiguous_inputs(rng):
    p, q = rng.standard_normal((4, 3)), rng.standard_normal((2, 4))
    r = rng.standard_normal((4, 1))
    out = ember.cat([_t(p), _t(q).t(), _t(r)], dim=1)
    _close(out, np.concatenate([p, q.T, r], 1))
    _close(ember.cat([_t(p), _t(p)[::2]], -2), np.concatenate([p, p[::2]], 0))
    _close(ember.cat([_t(p), ember.tensor([])]), p)                 # legacy 1-D empties are skipped
    assert ember.cat([ember.zeros(0, 3), ember.zeros(2, 3)]).shape == (2, 3)
    assert ember.cat([ember.tensor([1, 2]), ember.tensor([0.5])]).dtype == ember.float32
    with pytest.raises(RuntimeError, match="Sizes of tensors must match"):
        ember.cat([ember.zeros(2, 3), ember.zeros(2, 4)])
    with pytest.raises(IndexError):
        ember.cat([ember.zeros(2, 3)], dim=2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8, np.bool_])
def test_cat_of_contiguous_pieces_matches_numpy_for_every_row_length(dtype, rng):
    # Contiguous pieces of one dtype take the one-pass row copy (cpu/kernels/copy.cpp): rows of
    # 1 to 70 elements (every short-copy case from 1 byte to past 64), rows longer than 4 KB,
    # one row (dim 0), many rows over both threads, and empty pieces among them.
    def piece(shape):
        a = rng.standard_normal(shape) * 100
        return a > 0 if dtype == np.bool_ else a.astype(dtype)

    def check(parts, dim):
        out = ember.cat([ember.tensor(p) for p in parts], dim=dim)
        assert out.dtype == ember.tensor(parts[0]).dtype
        np.testing.assert_array_equal(out.numpy(), np.concatenate(parts, dim))

    for width in (1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 33, 64, 65, 70, 1100):
        a, c, e = piece((997, 2, width)), piece((997, 4, width)), piece((997, 0, width))
        check([a, a], 2)              # rows of `width` elements from each piece
        check([a, c], 1)
        check([c, e, a], -2)
        check([a[:5], c[:3].reshape(6, 2, width)], 0)  # a single output row
    for widths in ((2, 20, 20), (1, 1, 1, 1, 1), (13, 70, 1)):  # the coordinate MLP's features, and more
        check([piece((16384, w)) for w in widths], 1)


def test_stack_and_gradients(rng):
    p, q = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    _close(ember.stack([_t(p), _t(q)], 1), np.stack([p, q], 1))
    _close(ember.stack([_t(p), _t(q)], -1), np.stack([p, q], -1))
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        ember.stack([ember.zeros(2), ember.zeros(3)])
    x, y = _t(p, grad=True), _t(q, grad=True)
    assert gradcheck(lambda u, v: ember.cat([u, v.t(), u], 0), (x, _t(q.T.copy(), grad=True)))
    assert gradcheck(lambda u, v: ember.stack([u, v], 2), (x, y))
    assert gradgradcheck(lambda u, v: ember.cat([u * v, u], 1) ** 2, (x, y))


# ---- flip / roll / repeat / tile / tril / triu --------------------------------------------------
def test_flip_roll(a):
    x = _t(a)
    _close(x.flip(0, 2), np.flip(a, (0, 2)))
    _close(ember.flip(x.transpose(0, 1), [-1]), np.flip(a.transpose(1, 0, 2), -1))
    _close(ember.fliplr(x), np.fliplr(a))
    _close(x.roll(2, 1), np.roll(a, 2, 1))
    _close(x.roll((-1, 7), (0, 2)), np.roll(a, (-1, 7), (0, 2)))
    _close(x.roll(5), np.roll(a, 5))
    _close(x[:, 1:].roll(1, 1), np.roll(a[:, 1:], 1, 1))
    t = _t(a, grad=True)
    assert gradcheck(lambda u: u.flip(1), (t,))
    assert gradcheck(lambda u: u.transpose(0, 1).roll((1, -2), (0, 2)), (t,))
    assert gradgradcheck(lambda u: u.roll(3) * u.flip(0), (t,))


def test_repeat_tile(rng):
    p = rng.standard_normal((2, 3))
    _close(_t(p).repeat(2, 3), np.tile(p, (2, 3)))
    _close(_t(p).repeat(2, 1, 2), np.tile(p, (2, 1, 2)))
    _close(_t(p).t().repeat(1, 2), np.tile(p.T, (1, 2)))
    _close(ember.tile(_t(p), (2,)), np.tile(p, (2,)))
    assert _t(p).repeat(0, 1).shape == (0, 3)
    with pytest.raises(RuntimeError, match="repeat dims"):
        _t(p).repeat(2)
    x = _t(p, grad=True)
    assert gradcheck(lambda u: u.repeat(2, 1, 3), (x,))
    assert gradgradcheck(lambda u: u.tile((2, 2)) ** 2, (x,))


@pytest.mark.parametrize("k", [-2, -1, 0, 1, 4])
def test_tril_triu(rng, k):
    p = rng.standard_normal((2, 4, 5))
    _close(ember.tril(_t(p), k), np.tril(p, k))
    _close(_t(p).triu(k), np.triu(p, k))
    _close(_t(p).transpose(1, 2).tril(k), np.tril(p.transpose(0, 2, 1), k))
    ints = ember.tensor(np.arange(9).reshape(3, 3))
    assert ints.triu(k).tolist() == np.triu(np.arange(9).reshape(3, 3), k).tolist()
    x = _t(p, grad=True)
    assert gradcheck(lambda u: u.tril(k), (x,))
    assert gradcheck(lambda u: u.triu(k), (x,))


# ---- pad ----------------------------------------------------------------------------------------
def _np_pad(a, p, mode, value=0.0):
    width = [(0, 0)] * a.ndim
    for i in range(len(p) // 2):
        width[a.ndim - 1 - i] = (p[2 * i], p[2 * i + 1])
    if mode == "constant":
        return np.pad(a, width, mode="constant", constant_values=value)
    return np.pad(a, width, mode={"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode])


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_matches_numpy_and_grad(rng, mode):
    p = rng.standard_normal((2, 4, 5))
    for pads in [(1, 2), (2, 0, 1, 3), (0, 1, 3, 3, 1, 0)]:
        if mode == "reflect" and len(pads) == 6:
            continue
        _close(pad(_t(p), pads, mode=mode), _np_pad(p, pads, mode))
        x = _t(p, grad=True)
        assert gradcheck(lambda u: pad(u, pads, mode=mode), (x,))
    _close(pad(_t(p).transpose(1, 2), (1, 1), mode=mode), _np_pad(p.transpose(0, 2, 1), (1, 1), mode))


def test_pad_constant_value_and_negative_pads(rng):
    p = rng.standard_normal((3, 4))
    _close(pad(_t(p), (1, 1), value=2.5), _np_pad(p, (1, 1), "constant", 2.5))
    _close(pad(_t(p), (-1, 2, 0, -2)), np.pad(p[:1, 1:], ((0, 0), (0, 2))))
    x = _t(p, grad=True)
    assert gradcheck(lambda u: pad(u, (-1, 2, 1, -1)), (x,))
    assert gradgradcheck(lambda u: pad(u, (1, 2)) ** 2, (x,))
    with pytest.raises(RuntimeError, match="Padding size should be less than"):
        pad(_t(p), (4, 0), mode="reflect")
