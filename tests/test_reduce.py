"""Reductions: values, dtypes, errors and gradients against float64 NumPy references."""
import math

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck, gradgradcheck
from helpers import check_op, make_tensor

SIZES = [1, 3, 7, 33, 97]


def _var(a, axis=None, ddof=1, keepdims=False):
    return np.var(a, axis=axis, ddof=ddof, keepdims=keepdims)


def _lse(a, axis, keepdims=False):
    m = np.max(a, axis=axis, keepdims=True)
    out = m + np.log(np.exp(a - m).sum(axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def _distinct(shape, seed=0):
    """Values without ties so that max/min gradients are well defined."""
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(n).reshape(shape).astype(np.float64) / n - 0.5


# ---- sum / mean / prod --------------------------------------------------------------------
@pytest.mark.parametrize("n", SIZES)
def test_sum_and_mean_match_reference_on_odd_sizes(n):
    check_op(lambda x: ember.sum(x, 1), lambda a: a.sum(1), (3, n))
    check_op(lambda x: ember.mean(x, 0, keepdim=True), lambda a: a.mean(0, keepdims=True), (n, 5))
    check_op(lambda x: ember.sum(x, (0, -1)), lambda a: a.sum((0, 2)), (n, 2, 3), gradgrad=n < 8)


def test_sum_of_int_is_int64_and_sum_of_empty_is_zero():
    assert ember.sum(ember.tensor([1, 2, 3], dtype=ember.int32)).dtype is ember.int64
    assert ember.sum(ember.tensor([True, True])).item() == 2
    assert ember.sum(ember.zeros(0, 3)).item() == 0
    assert ember.sum(ember.zeros(0, 3), 0).tolist() == [0, 0, 0]
    assert ember.prod(ember.zeros(0)).item() == 1


@pytest.mark.parametrize("n", [1, 3, 7, 33])
def test_prod_matches_reference_and_gradients(n):
    check_op(lambda x: ember.prod(x, 1), lambda a: a.prod(1), (2, n), low=0.5, high=1.5, gradgrad=n <= 7)
    check_op(lambda x: ember.prod(x), lambda a: a.prod(), (n,), low=0.5, high=1.5)


def test_prod_gradient_with_zeros():
    for vals in ([2.0, 0.0, 3.0, 4.0], [0.0, 0.0, 3.0, 4.0], [1.5, 2.0, 3.0, 0.5]):
        x = ember.tensor(vals, dtype=ember.float64, requires_grad=True)
        assert gradcheck(lambda t: ember.prod(t), (x,))
        if vals[0] != 0:  # second derivatives between two zero entries are not modelled
            assert gradgradcheck(lambda t: ember.prod(t), (x,))
        assert gradcheck(lambda t: ember.prod(t.reshape(2, 2), 1), (x,))
    x = ember.tensor([2.0, 0.0, 3.0], requires_grad=True)
    ember.prod(x).backward()
    assert x.grad.tolist() == [0.0, 6.0, 0.0]
    assert ember.prod(ember.tensor([2, 3], dtype=ember.int32)).dtype is ember.int64


# ---- max / min ------------------------------------------------------------------------------
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_max_min_over_dim_give_values_and_indices(n, dim):
    a = _distinct((n, 5), seed=n)
    for fn, ref, arg in ((ember.max, np.max, np.argmax), (ember.min, np.min, np.argmin)):
        check_op(lambda x: fn(x, dim).values, lambda b: ref(b, dim), a)
        for layout in ("contiguous", "transposed", "sliced"):
            out = fn(make_tensor(a, layout, ember.float32), dim, keepdim=True)
            assert isinstance(out, tuple) and type(out).__name__ == fn.__name__
            np.testing.assert_array_equal(out.indices.numpy(), np.expand_dims(arg(a, dim), dim))
            assert out.indices.dtype is ember.int64


def test_max_over_leading_dim_of_wide_matrix_uses_rows_path():
    a = _distinct((9, 1000), seed=3)
    x = ember.tensor(a.astype(np.float32))
    v, i = ember.max(x, 0)
    np.testing.assert_array_equal(i.numpy(), a.argmax(0))
    np.testing.assert_allclose(v.numpy(), a.max(0), rtol=1e-6)
    np.testing.assert_array_equal(ember.argmin(x, 0).numpy(), a.argmin(0))
    np.testing.assert_allclose(ember.amin(x, 0).numpy(), a.min(0), rtol=1e-6)


def test_max_first_index_wins_and_nan_propagates():
    x = ember.tensor([[1.0, 3.0, 3.0, 0.0], [2.0, float("nan"), 5.0, float("nan")]])
    v, i = ember.max(x, 1)
    assert i.tolist() == [1, 1] and v[0].item() == 3.0 and math.isnan(v[1].item())
    assert math.isnan(ember.max(x).item()) and math.isnan(ember.amin(x, 1)[1].item())
    assert ember.argmax(ember.tensor([1, 7, 7, 2])).item() == 1
    wide = np.arange(100, dtype=np.float32)
    wide[57] = np.nan
    assert math.isnan(ember.max(ember.tensor(wide)).item())
    assert ember.argmax(ember.tensor(wide)).item() == 57


def test_argmax_flattens_without_dim_and_accepts_keepdim():
    a = _distinct((3, 4, 5))
    x = ember.tensor(a)
    assert ember.argmax(x).item() == a.argmax()
    assert ember.argmin(x).item() == a.argmin()
    assert x.argmax(dim=-1).tolist() == a.argmax(-1).tolist()
    assert ember.argmax(x, 1, keepdim=True).shape == (3, 1, 5)


def test_amax_amin_over_dim_lists():
    check_op(lambda x: ember.amax(x, (0, 2)), lambda a: a.max((0, 2)), _distinct((3, 4, 5)))
    check_op(lambda x: ember.amin(x, -1, keepdim=True), lambda a: a.min(-1, keepdims=True), _distinct((3, 7)))
    check_op(lambda x: x.amax(), lambda a: a.max(), _distinct((4, 3)))


def test_max_elementwise_with_tensor_argument_is_maximum():
    a, b = ember.tensor([1.0, 5.0]), ember.tensor([3.0, 2.0])
    assert ember.max(a, b).tolist() == [3.0, 5.0]
    assert ember.min(a, b).tolist() == [1.0, 2.0]
    assert a.max(b).tolist() == [3.0, 5.0]


def test_max_gradient_goes_to_selected_index_and_ties_share_in_full_reduction():
    x = ember.tensor([[1.0, 4.0, 4.0], [2.0, 0.0, 2.0]], requires_grad=True)
    ember.max(x, 1).values.sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    x.grad = None
    ember.max(x).backward()
    assert x.grad.tolist() == [[0.0, 0.5, 0.5], [0.0, 0.0, 0.0]]
    x.grad = None
    ember.amin(x, 1).sum().backward()
    assert x.grad.tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    x.grad = None
    ember.amax(x, 1).sum().backward()
    assert x.grad.tolist() == [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5]]


def test_max_gradients_are_twice_differentiable():
    x = make_tensor(_distinct((3, 4)), "transposed", requires_grad=True)
    assert gradgradcheck(lambda t: ember.max(t, 0).values, (x,))
    assert gradgradcheck(lambda t: ember.amin(t, 1), (x,))
    assert gradgradcheck(lambda t: ember.max(t), (x,))


def test_max_of_empty_raises_index_error():
    with pytest.raises(IndexError, match="max"):
        ember.max(ember.zeros(0))
    with pytest.raises(IndexError, match="zero-size|non-zero size"):
        ember.max(ember.zeros(2, 0), 1)
    with pytest.raises(IndexError):
        ember.argmin(ember.zeros(0, 3))
    assert ember.max(ember.zeros(0, 3), 1).values.shape == (0,)
    with pytest.raises(IndexError):
        ember.amax(ember.zeros(3, 0), 1)


def test_max_of_0d_and_size1_dims():
    x = ember.tensor(2.5)
    v, i = ember.max(x, 0)
    assert v.item() == 2.5 and i.item() == 0 and v.shape == ()
    check_op(lambda t: ember.max(t, 1).values, lambda a: a.max(1), (4, 1))


# ---- var / std ------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [2, 3, 7, 33, 97])
def test_var_std_with_correction(n):
    check_op(lambda x: ember.var(x, 1), lambda a: _var(a, 1), (3, n), gradgrad=n <= 7)
    check_op(lambda x: ember.std(x, 0, correction=0, keepdim=True),
             lambda a: np.std(a, 0, keepdims=True), (n, 4), gradgrad=n <= 7)
    check_op(lambda x: ember.var(x, (0, 2), correction=2), lambda a: _var(a, (0, 2), ddof=2), (n, 2, 3))
    check_op(lambda x: x.std(), lambda a: np.std(a, ddof=1), (n, 3))


def test_var_rows_path_and_numerical_soundness():
    a = np.random.default_rng(0).normal(1e4, 1.0, size=(500, 64)).astype(np.float32)
    got = ember.var(ember.tensor(a), 0).numpy()
    np.testing.assert_allclose(got, np.var(a.astype(np.float64), 0, ddof=1), rtol=1e-4)
    got = ember.std(ember.tensor(a.T.copy()), 1).numpy()
    np.testing.assert_allclose(got, np.std(a.astype(np.float64), 0, ddof=1), rtol=1e-4)


def test_var_legacy_unbiased_and_errors():
    a = _distinct((4, 5))
    x = ember.tensor(a)
    np.testing.assert_allclose(ember.var(x, 1, False).numpy(), np.var(a, 1), rtol=1e-12)
    np.testing.assert_allclose(ember.var(x, unbiased=False).item(), np.var(a), rtol=1e-12)
    np.testing.assert_allclose(ember.std(x, True).item(), np.std(a, ddof=1), rtol=1e-12)
    with pytest.raises(RuntimeError, match="floating point"):
        ember.var(ember.tensor([1, 2, 3]))
    with pytest.raises(RuntimeError, match="both"):
        ember.var(x, 1, unbiased=True, correction=0)
    assert math.isnan(ember.var(ember.tensor([1.0])).item())


def test_var_mean_and_std_mean():
    a = _distinct((4, 6))
    v, m = ember.var_mean(ember.tensor(a), 1, correction=0)
    np.testing.assert_allclose(v.numpy(), np.var(a, 1), rtol=1e-12)
    np.testing.assert_allclose(m.numpy(), a.mean(1), rtol=1e-12)
    s, m = ember.std_mean(ember.tensor(a), keepdim=True)
    assert s.shape == (1, 1) and abs(s.item() - np.std(a, ddof=1)) < 1e-12


# ---- norm / logsumexp -----------------------------------------------------------------------
@pytest.mark.parametrize("p", [2, 1, 3, 0.5, math.inf, -math.inf, "fro"])
def test_norm_matches_reference(p):
    ref_p = 2 if p == "fro" else p

    def ref(a, axis=None, keepdims=False):
        if ref_p == math.inf:
            return np.abs(a).max(axis=axis, keepdims=keepdims)
        if ref_p == -math.inf:
            return np.abs(a).min(axis=axis, keepdims=keepdims)
        return (np.abs(a) ** ref_p).sum(axis=axis, keepdims=keepdims) ** (1 / ref_p)
    a = _distinct((5, 7)) + 0.01
    check_op(lambda x: ember.norm(x, p), lambda b: ref(b), a, gradgrad=p in (2, 3))
    check_op(lambda x: ember.norm(x, p, dim=0, keepdim=True), lambda b: ref(b, 0, True), a)
    check_op(lambda x: x.norm(p, 1), lambda b: ref(b, 1), a)


def test_norm_of_zero_has_zero_gradient_and_int_raises():
    x = ember.zeros(3, requires_grad=True)
    ember.norm(x).backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]
    assert ember.norm(ember.tensor([3.0, 0.0, 4.0]), 0).item() == 2.0
    with pytest.raises(RuntimeError, match="floating point"):
        ember.norm(ember.tensor([1, 2]))
    from ember._functions.reduce import vector_norm
    assert abs(vector_norm(ember.tensor([3.0, 4.0])).item() - 5.0) < 1e-6


@pytest.mark.parametrize("n", SIZES)
def test_logsumexp_is_stable_and_matches_reference(n):
    check_op(lambda x: ember.logsumexp(x, 1), lambda a: _lse(a, 1), (3, n), gradgrad=n <= 7)
    check_op(lambda x: ember.logsumexp(x, 0, keepdim=True), lambda a: _lse(a, 0, True), (n, 3))
    big = ember.tensor([[1000.0, 1000.0], [-1000.0, -1000.0], [float("-inf"), float("-inf")]])
    out = ember.logsumexp(big, 1).tolist()
    assert abs(out[0] - (1000 + math.log(2))) < 1e-3 and abs(out[1] - (-1000 + math.log(2))) < 1e-3
    assert out[2] == -math.inf
    assert ember.logsumexp(ember.tensor([1, 2]), 0).dtype is ember.float32


def _one_pass_rows(n, rng):
    """float32 rows of length n for the one-pass max + exp-sum (blocks of 256): the max growing
    block by block (each block rescales the sum so far), shrinking, leading -inf blocks, -inf
    sprinkled, a shift of 1e4, and rows ending in NaN, +inf or made only of -inf."""
    up = np.linspace(-40, 40, n)
    rows = [up, up[::-1], rng.standard_normal(n) * 30, rng.standard_normal(n) + 1e4]
    lead = rng.standard_normal(n)
    lead[: min(n - 1, 300)] = -np.inf
    rows.append(lead)
    sprinkled = rng.standard_normal(n)
    sprinkled[rng.random(n) < 0.3] = -np.inf
    sprinkled[-1] = 0.5
    rows.append(sprinkled)
    for special in (np.nan, np.inf):
        r = rng.standard_normal(n)
        r[n * 3 // 4] = special
        rows.append(r)
    rows.append(np.full(n, -np.inf))
    return np.array(rows, dtype=np.float32)


@pytest.mark.parametrize("n", [1, 15, 16, 17, 255, 256, 257, 600, 4099])
def test_logsumexp_log_softmax_and_cross_entropy_one_pass_rows(n):
    rng = np.random.default_rng(n)
    a = _one_pass_rows(n, rng)
    a64 = a.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        want = _lse(a64, 1)
        want_logp = a64 - want[:, None]
    want[-2:] = [np.inf, -np.inf]  # as torch: a +inf element gives +inf, a row of -inf gives -inf
    x = ember.from_numpy(a)
    got = ember.logsumexp(x, 1).numpy()
    np.testing.assert_allclose(got, want, rtol=2e-7, atol=2e-6)  # NaN, +inf and -inf rows included
    finite = np.isfinite(want)
    logp = ember.nn.functional.log_softmax(x, 1).numpy()
    np.testing.assert_allclose(logp[finite], want_logp[finite], rtol=1e-6, atol=2e-5)
    assert np.isnan(logp[~finite]).all()
    target = np.argmax(np.where(np.isfinite(a), a, -np.inf), 1)[finite]
    loss = ember.nn.functional.cross_entropy(ember.from_numpy(a[finite]), ember.tensor(target), reduction="none")
    np.testing.assert_allclose(loss.numpy(), -want_logp[finite][np.arange(finite.sum()), target], rtol=1e-6, atol=2e-5)


# ---- cumsum ---------------------------------------------------------------------------------
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumsum_matches_reference(n, dim):
    check_op(lambda x: ember.cumsum(x, dim), lambda a: np.cumsum(a, dim), (n, 4), gradgrad=n <= 3)


def test_cumsum_dtypes_and_3d():
    assert ember.cumsum(ember.tensor([1, 2, 3], dtype=ember.int32), 0).dtype is ember.int64
    assert ember.cumsum(ember.tensor([True, True]), 0).tolist() == [1, 2]
    assert ember.cumsum(ember.tensor([1, 2]), 0, dtype=ember.float64).dtype is ember.float64
    check_op(lambda x: ember.cumsum(x, 1), lambda a: np.cumsum(a, 1), (2, 33, 600), grad=False)
    assert ember.cumsum(ember.zeros(0, 3), 1).shape == (0, 3)
    with pytest.raises(IndexError):
        ember.cumsum(ember.zeros(2, 3), 2)


# ---- count_nonzero / all / any --------------------------------------------------------------
def test_count_nonzero_all_any():
    x = ember.tensor([[0.0, 1.0, 2.0], [0.0, 0.0, 3.0]])
    assert ember.count_nonzero(x).item() == 3
    assert ember.count_nonzero(x, 0).tolist() == [0, 1, 2]
    assert x.count_nonzero(dim=(0, 1)).dtype is ember.int64
    assert ember.all(x, 1).tolist() == [False, False]
    assert ember.any(x, 0).tolist() == [False, True, True]


# ---- dims ------------------------------------------------------------------------------------
def test_dims_negative_duplicate_and_out_of_range():
    x = ember.ones(2, 3, 4)
    assert ember.sum(x, (-1, -3)).shape == (3,)
    with pytest.raises(RuntimeError, match="appears multiple times"):
        ember.sum(x, (0, -3))
    with pytest.raises(RuntimeError, match="appears multiple times"):
        ember.amax(x, (1, 1))
    with pytest.raises(IndexError, match="Dimension out of range"):
        ember.sum(x, 3)
    with pytest.raises(IndexError, match="Dimension out of range"):
        ember.max(x, -4)


def test_gradients_through_broadcasting_and_views_of_views():
    rng = np.random.default_rng(7)  # continuous values: no ties in x * y
    a = ember.tensor(rng.standard_normal((4, 6)), requires_grad=True)
    b = ember.tensor(rng.standard_normal(6), requires_grad=True)

    def f(x, y):
        z = (x * y).transpose(0, 1).reshape(3, 8).transpose(0, 1)  # a view of a view
        return ember.logsumexp(z, 0) + ember.var(z, 1).sum() + ember.max(z, 1).values.sum()
    assert gradcheck(f, (a, b))
    assert gradgradcheck(lambda x, y: ember.std(x * y, 0), (a, b))


def test_tensor_methods_are_registered():
    x = ember.tensor(_distinct((3, 4)))
    for name in ("prod", "max", "min", "amax", "amin", "argmax", "argmin", "var", "std", "norm", "cumsum",
                 "count_nonzero"):
        assert hasattr(x, name)
    assert x.logsumexp(1).shape == (3,)
    assert type(ember.max(x, 0)) is ember.return_types.max


# ---- long runs, lanes and chunks ------------------------------------------------------------
# The kernels reduce contiguous runs in vector lanes, full reductions of long runs in fixed chunks
# (2^16 elements) on several threads, and merge contiguous dims first; these pin each of those.
LONG = 3 * 2**16 + 123


def _both_thread_counts(fn):
    old = ember.get_num_threads()
    try:
        ember.set_num_threads(1)
        one = fn()
        ember.set_num_threads(2)
        two = fn()
    finally:
        ember.set_num_threads(old)
    return one, two


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "argmax", "argmin", "var", "std", "logsumexp"])
def test_full_reduction_of_long_float32_run_matches_reference_on_any_thread_count(name):
    a = np.random.default_rng(1).standard_normal(LONG).astype(np.float32) + np.float32(0.25)
    ref = {"sum": np.sum, "mean": np.mean, "amax": np.max, "amin": np.min, "argmax": np.argmax,
           "argmin": np.argmin, "var": lambda v: np.var(v, ddof=1), "std": lambda v: np.std(v, ddof=1),
           "logsumexp": lambda v: _lse(v, 0)}[name](a.astype(np.float64))
    x = ember.tensor(a)
    fn = (lambda: getattr(ember, name)(x, 0).numpy()) if name == "logsumexp" else (lambda: getattr(ember, name)(x).numpy())
    one, two = _both_thread_counts(fn)
    np.testing.assert_array_equal(one, two)  # fixed chunks: the same bits on 1 and 2 threads
    if name in ("argmax", "argmin"):
        assert int(one) == int(ref)
    else:
        scale = np.abs(a).astype(np.float64).sum() / (LONG if name == "mean" else 1)
        tol = 1e-6 * (scale if name in ("sum", "mean") else abs(ref))
        assert abs(float(one) - ref) <= tol, (name, float(one), ref)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "uint8"])
@pytest.mark.parametrize("n", [17, 33, 97, 1000, 2 * 2**16 + 5])
def test_first_extreme_index_wins_across_lanes_and_chunks(dtype, n):
    rng = np.random.default_rng(n)
    a = rng.integers(10, 100, size=n).astype(dtype)
    spots = sorted(rng.choice(n, size=3, replace=False))
    a[spots] = 120  # ties at several positions: the first one is the answer
    low = sorted(set(rng.choice(n, size=4, replace=False)) - set(spots))
    a[low] = 1
    x = ember.tensor(a)
    assert ember.argmax(x).item() == spots[0] and ember.argmin(x).item() == low[0]
    v, i = ember.max(ember.tensor(np.stack([a, a[::-1].copy()])), 1)
    assert i.tolist() == [spots[0], n - 1 - spots[-1]] and v.tolist() == [120, 120]
    if dtype.startswith("float"):
        b = a.copy()
        nans = sorted(rng.choice(n, size=2, replace=False))
        b[nans] = np.nan
        y = ember.tensor(b)
        assert ember.argmax(y).item() == nans[0] and ember.argmin(y).item() == nans[0]
        assert math.isnan(ember.amax(y).item()) and math.isnan(ember.amin(y).item())
        assert math.isnan(ember.logsumexp(y, 0).item()) and math.isnan(ember.var(y).item())


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_max_over_leading_dim_keeps_first_index_of_ties_and_nan(dtype):
    rng = np.random.default_rng(5)
    a = rng.integers(0, 4, size=(37, 300)).astype(dtype)  # many ties in every column
    if dtype.startswith("float"):
        a[[3, 20], 7] = np.nan
    v, i = ember.max(ember.tensor(a), 0)
    want = np.argmax(a, 0)
    if dtype.startswith("float"):
        want[7] = 3
    np.testing.assert_array_equal(i.numpy(), want)
    np.testing.assert_array_equal(ember.argmin(ember.tensor(a), 0).numpy(),
                                  np.where(np.isnan(a).any(0), np.argmax(np.isnan(a), 0), np.nanargmin(a, 0))
                                  if dtype.startswith("float") else np.argmin(a, 0))
    np.testing.assert_array_equal(v.numpy(), np.max(a, 0))


@pytest.mark.parametrize("n", [4, 5, 7, 33, 97, 4099])
def test_cumsum_of_float32_rows_matches_float64_reference(n):
    a = np.random.default_rng(n).standard_normal((3, n)).astype(np.float32) + np.float32(0.5)
    got = ember.cumsum(ember.tensor(a), 1).numpy()
    ref = np.cumsum(a.astype(np.float64), 1)
    bound = 4e-7 * np.cumsum(np.abs(a).astype(np.float64), 1) + 6e-8 * np.abs(ref)
    assert np.all(np.abs(got - ref) <= bound)
    sliced = ember.tensor(np.ascontiguousarray(np.repeat(a, 2, axis=1)))[:, ::2]  # a strided view
    np.testing.assert_array_equal(ember.cumsum(sliced, 1).numpy(), got)


def test_var_of_float32_with_large_offset_matches_reference():
    a = np.random.default_rng(2).normal(1e4, 0.1, size=(3, 5000)).astype(np.float32)
    ref = np.var(a.astype(np.float64), 1, ddof=1)
    np.testing.assert_allclose(ember.var(ember.tensor(a), 1).numpy(), ref, rtol=1e-5)
    long = np.tile(a.ravel(), 10)
    np.testing.assert_allclose(ember.var(ember.tensor(long)).item(), np.var(long.astype(np.float64), ddof=1), rtol=1e-5)


@pytest.mark.parametrize("dims", [(0, 2), (1, 3), (0, 1, 2), (2, 3), (1, 2)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_reductions_of_permuted_inputs_with_unit_dims(dims, keepdim):
    a = np.random.default_rng(7).standard_normal((4, 1, 6, 35)).astype(np.float32)
    base = ember.tensor(np.ascontiguousarray(a.transpose(2, 1, 0, 3)))
    x = base.permute(2, 1, 0, 3)  # the values of `a`, non-contiguous
    ad = a.astype(np.float64)
    np.testing.assert_allclose(ember.sum(x, dims, keepdim=keepdim).numpy(), ad.sum(dims, keepdims=keepdim), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ember.amax(x, dims, keepdim=keepdim).numpy(), ad.max(dims, keepdims=keepdim))
    np.testing.assert_allclose(ember.var(x, dims, keepdim=keepdim).numpy(), ad.var(dims, ddof=1, keepdims=keepdim), rtol=1e-4)
    np.testing.assert_allclose(ember.logsumexp(x, dims, keepdim=keepdim).numpy(),
                               np.log(np.exp(ad).sum(dims, keepdims=keepdim)), rtol=1e-5)
    for d in range(4):
        np.testing.assert_array_equal(ember.argmax(x, d).numpy(), a.argmax(d))


def test_float32_partials_that_overflow_are_redone_in_double():
    big = np.float32(3e38)  # two of them overflow float32; the totals below do not
    a = np.zeros(1024, np.float32)
    a[[0, 32]] = big  # the same float lane of the vectorised sum
    a[64] = -big
    assert ember.sum(ember.tensor(a)).item() == float(big)
    m = np.zeros((6, 40), np.float32)
    m[[0, 1, 2], 5] = [big, big, -big]  # four rows at a time in the leading-dim sum
    assert ember.sum(ember.tensor(m), 0).numpy()[5] == big
    b = np.zeros(1027, np.float32)
    b[[0, 1, 2]] = [big, big, -big]  # one 8-element block of the vectorised cumsum
    b[100:103] = [big, -big, -big]
    want = np.cumsum(b.astype(np.float64))
    with np.errstate(over="ignore"):
        want = want.astype(np.float32)
    np.testing.assert_array_equal(ember.cumsum(ember.tensor(b[None]), 1).numpy()[0], want)
