"""Indexing: __getitem__/__setitem__ against NumPy, gather/scatter/index_select/masked ops/one_hot against
float64 NumPy references, and their gradients (gradcheck / gradgradcheck)."""
import numpy as np
import pytest

import ember
from ember.autograd import gradcheck, gradgradcheck


from ember._functions import indexing as ix


def _t(a, grad=False):
    return ember.tensor(np.asarray(a), requires_grad=grad)


def _close(t, ref):
    a = t.detach().numpy() if isinstance(t, ember.Tensor) else np.asarray(t)
    assert a.shape == np.asarray(ref).shape, (a.shape, np.asarray(ref).shape)
    np.testing.assert_allclose(a, ref, rtol=1e-12, atol=1e-12)


@pytest.fixture
def a345(rng):
    return rng.standard_normal((3, 4, 5))


# ---- basic indexing ----------------------------------------------------------------------------
BASIC_KEYS = [
    0, -1, 2, (1, 2), (1, -1, 3), slice(None), slice(1, None), slice(None, None, 2), (slice(None), slice(1, 4, 2)),
    (Ellipsis, 0), (Ellipsis, slice(None, None, 3)), (None, 1), (0, None, slice(2)), (slice(None), None, Ellipsis, None),
    (1, Ellipsis, 2, None), slice(-2, None), slice(5, 10), (slice(3, 1),), (Ellipsis,), (),
]


@pytest.mark.parametrize("key", BASIC_KEYS, ids=repr)
def test_getitem_basic_matches_numpy_and_shares_storage(a345, key):
    x = _t(a345)
    y = x[key]
    _close(y, a345[key])
    if y.numel():
        assert y._c.shares_storage(x._c)


def test_getitem_views_of_views_write_through(a345):
    x = _t(a345.copy())
    v = x[1:, ::2][:, 1][..., 1:4]
    ref = a345[1:, ::2][:, 1][..., 1:4]
    _close(v, ref)
    v.fill_(7.0)
    assert (x.numpy()[1:, ::2][:, 1][..., 1:4] == 7).all()


def test_getitem_negative_step_raises_value_error(a345):
    with pytest.raises(ValueError, match="step must be greater than zero"):
        _t(a345)[::-1]


def test_getitem_int_out_of_bounds_raises_index_error(a345):
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 1 with size 4"):
        _t(a345)[0, 5]
    with pytest.raises(IndexError, match="too many indices"):
        _t(a345)[0, 0, 0, 0]


def test_getitem_bool_scalars_follow_numpy(a345):
    x = _t(a345)
    _close(x[True], a345[True])
    _close(x[False], a345[False])
    _close(x[None, True, 1], a345[None, True, 1])


# ---- advanced indexing --------------------------------------------------------------------------
ADV_KEYS = [
    [0, 2], [[0, 1], [2, -1]], ([0, 2], [1, 3]), (slice(None), [3, 0, 3]), (Ellipsis, [4, 0, 0, 1]),
    ([[0], [2]], [1, 2, 3]), (1, [0, 2], slice(1, 4)), (slice(None), [0, 1], [2, 3]), (slice(1, None), [[0], [3]], 2),
    (np.array([2, 0]),), ([], slice(None)), (None, [1, 2], None),
]


@pytest.mark.parametrize("key", ADV_KEYS, ids=repr)
def test_getitem_integer_arrays_match_numpy(a345, key):
    x = _t(a345)
    k = tuple(ember.tensor(np.asarray(i, dtype=np.int64)) if isinstance(i, (list, np.ndarray)) else i
              for i in (key if isinstance(key, tuple) else (key,)))
    _close(x[k], a345[key if isinstance(key, tuple) else (key,)])
    _close(x[key], a345[tuple(np.asarray(i, dtype=np.int64) if isinstance(i, list) else i
                              for i in (key if isinstance(key, tuple) else (key,)))])


def test_getitem_separated_advanced_indices_go_first(a345):
    x = _t(a345)
    idx0, idx2 = np.array([0, 2, 1]), np.array([4, 0, 1])
    _close(x[ember.tensor(idx0), :, ember.tensor(idx2)], a345[idx0, :, idx2])
    _close(x[[0, 1], 1:3, [[1], [2]]], a345[[0, 1], 1:3, [[1], [2]]])


def test_getitem_bool_mask(a345):
    x = _t(a345)
    m = a345 > 0
    _close(x[ember.tensor(m)], a345[m])
    m2 = a345[:, :, 0] > 0
    _close(x[ember.tensor(m2)], a345[m2])
    m1 = np.array([True, False, True])
    _close(x[ember.tensor(m1), 1:], a345[m1, 1:])
    _close(x[:, ember.tensor(np.array([False, True, True, False]))], a345[:, [False, True, True, False]])
    with pytest.raises(IndexError, match="mask"):
        x[ember.tensor(np.array([True, False]))]


def test_getitem_index_tensor_out_of_bounds_raises(a345):
    x = _t(a345)
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 0 with size 3"):
        x[ember.tensor([0, 5])]
    with pytest.raises(IndexError, match="index -6 is out of bounds for dimension 2 with size 5"):
        x[:, :, ember.tensor([-6])]


def test_getitem_non_contiguous_and_zero_size(rng):
    a = rng.standard_normal((6, 5))
    x = _t(a).t()[1:]
    ref = a.T[1:]
    _close(x[[0, 2, 3]], ref[[0, 2, 3]])
    _close(x[:, [5, 0]], ref[:, [5, 0]])
    z = _t(np.zeros((0, 3)))
    _close(z[:, [1, 2]], np.zeros((0, 2)))
    _close(z[ember.tensor(np.zeros((0,), bool))], np.zeros((0, 3)))


def test_getitem_gradients(rng):
    a = _t(rng.standard_normal((4, 5)), grad=True)
    idx = ember.tensor([0, 3, 3, -1])
    mask = ember.tensor(rng.standard_normal((4, 5)) > 0)
    assert gradcheck(lambda x: x[1:, ::2], (a,))
    assert gradcheck(lambda x: x[None, 2, 1:4], (a,))
    assert gradcheck(lambda x: x[idx], (a,))                     # repeated index accumulates
    assert gradcheck(lambda x: x[idx, [1, 2, 2, 0]], (a,))
    assert gradcheck(lambda x: x.t()[:, idx], (a,))
    assert gradcheck(lambda x: x[mask], (a,))
    assert gradcheck(lambda x: x[1:][[0, 0]][:, 1:3], (a,))     # views of views, advanced on a view
    assert gradgradcheck(lambda x: x[idx] * x[idx], (a,))
    assert gradgradcheck(lambda x: x[1:, ::2] ** 2, (a,))


# ---- __setitem__ --------------------------------------------------------------------------------
SET_KEYS = [0, (1, 2), slice(1, 3), (Ellipsis, 1), (slice(None), [0, 2]), [[0], [2]], (0, slice(None, None, 2))]


@pytest.mark.parametrize("key", SET_KEYS, ids=repr)
def test_setitem_number_and_broadcast_tensor(a345, key):
    x = _t(a345.copy())
    ref = a345.copy()
    x[key] = 3.5
    ref[key] = 3.5
    _close(x, ref)
    val = np.arange(float(ref[key].shape[-1]))  # broadcast over the leading dims
    x[key] = ember.tensor(val)
    ref[key] = val
    _close(x, ref)


def test_setitem_bool_mask_and_int_tensor(rng):
    a = rng.standard_normal((4, 3))
    x, ref = _t(a.copy()), a.copy()
    x[ember.tensor(a > 0)] = 0.0
    ref[a > 0] = 0.0
    _close(x, ref)
    xi = ember.tensor(np.arange(6))
    xi[ember.tensor([1, 3])] = ember.tensor([10, 30])
    assert xi.tolist() == [0, 10, 2, 30, 4, 5]
    with pytest.raises(IndexError, match="out of bounds"):
        xi[ember.tensor([6])] = 1
    assert xi.tolist() == [0, 10, 2, 30, 4, 5]


def test_setitem_on_view_writes_base(a345):
    x = _t(a345.copy())
    v = x[1]
    v[:, [0, 1]] = -1.0
    ref = a345.copy()
    ref[1][:, [0, 1]] = -1.0
    _close(x, ref)


def test_setitem_autograd_on_non_leaf(rng):
    a = _t(rng.standard_normal((4, 5)), grad=True)
    b = _t(rng.standard_normal((2, 5)), grad=True)

    def f(x, v):
        y = x * 2
        y[[0, 2]] = v * 3
        y[1, 1:3] = 0.0
        return y
    assert gradcheck(f, (a, b))
    with pytest.raises(RuntimeError, match="leaf Variable"):
        a[0] = 1.0
    with pytest.raises(RuntimeError, match="view"):
        y = a * 1
        y[0][1] = b[0, 0]


# ---- gather / scatter / index_select / index_add ------------------------------------------------
def test_gather_matches_numpy_and_grad(rng):
    a = rng.standard_normal((3, 4))
    idx = rng.integers(0, 4, (3, 6))
    out = ember.gather(_t(a), 1, ember.tensor(idx))
    _close(out, np.take_along_axis(a, idx, 1))
    idx0 = rng.integers(0, 3, (2, 4))
    _close(_t(a).gather(-2, ember.tensor(idx0)), np.take_along_axis(a, idx0, 0))
    x = _t(a, grad=True)
    assert gradcheck(lambda t: t.gather(1, ember.tensor(idx)), (x,))
    assert gradcheck(lambda t: t.t().gather(0, ember.tensor(idx.T[:3])), (x,))
    assert gradgradcheck(lambda t: t.gather(1, ember.tensor(idx)) ** 2, (x,))
    with pytest.raises(IndexError, match="index 4 is out of bounds for dimension 1 with size 4"):
        _t(a).gather(1, ember.tensor([[4]]))
    with pytest.raises(RuntimeError, match="index -1 is out of bounds"):  # torch: no negative indices here
        _t(a).gather(0, ember.tensor([[-1]]))


def _np_scatter(a, dim, idx, src, add):
    out = a.copy()
    for pos in np.ndindex(*idx.shape):
        tgt = list(pos)
        tgt[dim] = idx[pos]
        v = src[pos] if np.ndim(src) else src
        if add:
            out[tuple(tgt)] += v
        else:
            out[tuple(tgt)] = v
    return out


def test_scatter_and_scatter_add_match_reference(rng):
    a = rng.standard_normal((3, 5))
    src = rng.standard_normal((4, 6))
    idx = np.stack([rng.permutation(5)[:4] for _ in range(2)])  # unique per row for scatter
    idx_add = rng.integers(0, 5, (2, 4))
    _close(_t(a).scatter(1, ember.tensor(idx), _t(src)), _np_scatter(a, 1, idx, src, False))
    _close(_t(a).scatter(1, ember.tensor(idx), 2.5), _np_scatter(a, 1, idx, 2.5, False))
    _close(ember.scatter_add(_t(a), 1, ember.tensor(idx_add), _t(src)), _np_scatter(a, 1, idx_add, src, True))
    x = _t(a.copy())
    x.scatter_add_(0, ember.tensor([[0, 2, 2, 1, 0]]), _t(src))
    _close(x, _np_scatter(a, 0, np.array([[0, 2, 2, 1, 0]]), src, True))
    xa, sa = _t(a, grad=True), _t(src, grad=True)
    assert gradcheck(lambda t, s: t.scatter(1, ember.tensor(idx), s), (xa, sa))
    assert gradcheck(lambda t, s: t.scatter_add(1, ember.tensor(idx_add), s), (xa, sa))
    assert gradgradcheck(lambda t, s: t.scatter_add(1, ember.tensor(idx_add), s) ** 2, (xa, sa))
    with pytest.raises(IndexError, match="out of bounds"):
        _t(a).scatter_(1, ember.tensor([[7]]), 1.0)


def test_index_select_and_index_add(rng):
    a = rng.standard_normal((4, 3, 2))
    idx = np.array([3, 0, 3, -1])
    _close(ember.index_select(_t(a), 0, ember.tensor(idx)), a[idx])
    _close(_t(a).index_select(-1, ember.tensor([1])), a[..., [1]])
    src = rng.standard_normal((4, 4, 2))
    ref = a.copy()
    np.add.at(ref, (slice(None), np.array([0, 2, 2, 1])), 2 * src)
    _close(_t(a).index_add(1, ember.tensor([0, 2, 2, 1]), _t(src), alpha=2), ref)
    x = _t(a, grad=True)
    assert gradcheck(lambda t: t.index_select(0, ember.tensor(idx)), (x,))
    assert gradgradcheck(lambda t: t.index_select(2, ember.tensor([1, 1])) ** 2, (x,))
    s = _t(src, grad=True)
    assert gradcheck(lambda t, u: t.index_add(1, ember.tensor([0, 2, 2, 1]), u, alpha=2), (x, s))
    with pytest.raises(IndexError, match="index 4 is out of bounds for dimension 0 with size 4"):
        _t(a).index_select(0, ember.tensor([4]))


def test_masked_fill_select_nonzero(rng):
    a = rng.standard_normal((3, 4))
    m = a > 0.2
    _close(_t(a).masked_fill(ember.tensor(m), -1.0), np.where(m, -1.0, a))
    _close(_t(a).masked_fill(ember.tensor(m[0]), 0.0), np.where(m[0], 0.0, a))  # broadcast mask
    _close(ember.masked_select(_t(a), ember.tensor(m)), a[m])
    nz = ember.nonzero(_t(a) > 0)
    np.testing.assert_array_equal(nz.numpy(), np.argwhere(a > 0))
    cols = (_t(a) > 0).nonzero(as_tuple=True)
    for c, r in zip(cols, np.nonzero(a > 0)):
        np.testing.assert_array_equal(c.numpy(), r)
    assert ember.nonzero(ember.zeros(0, 3)).shape == (0, 2)
    x = _t(a, grad=True)
    assert gradcheck(lambda t: t.masked_fill(ember.tensor(m), 2.0), (x,))
    assert gradcheck(lambda t: t.masked_select(ember.tensor(m)), (x,))
    y = _t(a.copy())
    y.masked_fill_(ember.tensor(m), 0.0)
    _close(y, np.where(m, 0.0, a))


def test_take_and_put(rng):
    a = rng.standard_normal((3, 4))
    idx = np.array([[0, 11], [-1, 5]])
    _close(ember.take(_t(a), ember.tensor(idx)), np.take(a, idx))
    _close(ember.take(_t(a).t(), ember.tensor(idx)), np.take(a.T, idx))
    x = _t(a, grad=True)
    assert gradcheck(lambda t: ember.take(t.t(), ember.tensor(idx)), (x,))
    y = _t(a.copy())
    y.put_(ember.tensor([0, 5]), ember.tensor([9.0, 8.0]))
    ref = a.copy()
    ref.flat[[0, 5]] = [9.0, 8.0]
    _close(y, ref)
    with pytest.raises(IndexError):
        ember.take(_t(a), ember.tensor([12]))


def test_one_hot():
    t = ember.tensor([0, 2, 1, 2])
    np.testing.assert_array_equal(ix.one_hot(t).numpy(), np.eye(3, dtype=np.int64)[[0, 2, 1, 2]])
    assert ix.one_hot(t, 5).shape == (4, 5)
    assert ix.one_hot(ember.tensor([[1], [0]]), 2).tolist() == [[[0, 1]], [[1, 0]]]
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        ix.one_hot(t, 2)
    with pytest.raises(RuntimeError, match="non-negative"):
        ix.one_hot(ember.tensor([-1]), 3)
