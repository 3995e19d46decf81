"""Property-based tests (hypothesis): elementwise ops, reductions, matmul, conv2d and pooling on random
shapes, layouts (permuted, strided, flipped, expanded and offset views), broadcasting pairs and dtypes,
each against a float64 NumPy reference.

Every property runs 20 examples in the normal run. The `long` variants (markers `long_hypothesis`
and `slow`, so not in the default run) run 1,000 each:
    python -m pytest -m long_hypothesis tests/test_properties.py
ember, like torch, rejects negative slice steps (ValueError), so reversed inputs come from `flip`.
"""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.lib.stride_tricks import sliding_window_view

import ember
import ember.nn.functional as F

RUNS = [pytest.param(20, id="normal"),
        pytest.param(1000, id="long", marks=[pytest.mark.slow, pytest.mark.long_hypothesis])]


def run_property(examples, prop):
    """Runs prop(data) under hypothesis for `examples` examples (no example database: the failing
    example is printed, and the repository stays clean), and checks that it really ran that many."""
    calls = 0

    def counted(data):
        nonlocal calls
        calls += 1
        prop(data)

    settings(max_examples=examples, deadline=None, database=None,
             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])(given(st.data())(counted))()
    assert calls >= examples, f"hypothesis ran {calls} examples, fewer than {examples}"


FLOATS = [ember.float32, ember.float64]
INTS = [ember.int64, ember.int32, ember.uint8]
ALL_DTYPES = FLOATS + INTS + [ember.bool]
CATEGORY = {ember.bool: 0, ember.uint8: 1, ember.int32: 1, ember.int64: 1, ember.float32: 2, ember.float64: 2}
SIZE = {ember.bool: 1, ember.uint8: 1, ember.int32: 4, ember.int64: 8, ember.float32: 4, ember.float64: 8}


# ---- inputs: values, then a layout ----------------------------------------------------------------------
def values(data, shape, dtype, lo=-8.0, hi=8.0):
    """A float64 array of values exactly representable in dtype (floats drawn as float32)."""
    if dtype is ember.bool:
        elements = st.booleans()
    elif dtype.is_floating_point:
        # rounded to float32 (a hair outside [lo, hi] at most), so both dtypes hold the same numbers
        elements = st.floats(lo, hi, allow_nan=False, allow_infinity=False).map(lambda v: float(np.float32(v)))
    else:
        elements = st.integers(max(int(lo), 0) if dtype is ember.uint8 else int(lo), int(hi))
    return data.draw(hnp.arrays(np.float64, shape, elements=elements))


def make_input(data, a, dtype, requires_grad=False):
    """An ember tensor equal to `a` (as dtype) in one of several memory layouts. Returns the tensor
    and the values it holds (an 'expanded' layout repeats a slice of `a`)."""
    np_dtype = dtype.to_numpy()
    layout = data.draw(st.sampled_from(["contiguous", "permuted", "strided", "flipped", "expanded"]), label="layout")
    if layout == "permuted" and a.ndim >= 2:
        perm = data.draw(st.permutations(range(a.ndim)))
        base = ember.tensor(np.ascontiguousarray(a.transpose(perm)).astype(np_dtype))
        t = base.permute(*np.argsort(perm).tolist())  # a view whose strides are not decreasing
    elif layout == "strided" and a.ndim >= 1:
        steps = [data.draw(st.integers(1, 3)) for _ in range(a.ndim)]
        starts = [data.draw(st.integers(0, 2)) for _ in range(a.ndim)]
        stops = [s0 + (n - 1) * k + 1 if n else s0 for s0, n, k in zip(starts, a.shape, steps)]
        big = np.full([stop + 1 for stop in stops], 99.0)  # a margin of 99s around the view
        window = tuple(slice(s0, stop, k) for s0, stop, k in zip(starts, stops, steps))
        big[window] = a
        t = ember.tensor(big.astype(np_dtype))[window]  # a view with an offset and steps
    elif layout == "flipped" and a.ndim >= 1:
        dims = data.draw(st.lists(st.integers(0, a.ndim - 1), min_size=1, max_size=a.ndim, unique=True))
        t = ember.tensor(np.flip(a, dims).astype(np_dtype)).flip(dims)
        if a.ndim >= 2:  # and a transposed view of the flipped tensor, to mix both
            t = t.transpose(0, -1).contiguous().transpose(0, -1)
    elif layout == "expanded" and a.ndim >= 1 and a.size > 0:
        axis = data.draw(st.integers(0, a.ndim - 1))
        a = np.broadcast_to(np.take(a, [0], axis=axis), a.shape)
        t = ember.tensor(np.take(a, [0], axis=axis).astype(np_dtype)).expand(*a.shape)  # stride 0
    else:
        t = ember.tensor(np.array(a, dtype=np_dtype, order="C"))  # (ascontiguousarray makes 0-d arrays 1-d)
    assert tuple(t.shape) == a.shape
    if requires_grad:
        t.requires_grad_()
    return t, np.asarray(a, dtype=np.float64)


def shapes(min_dims=0, max_dims=4, min_side=1, max_side=5):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def assert_matches(got, want, dtype, scale=1.0, what=""):
    got_np = got.detach().numpy() if isinstance(got, ember.Tensor) else np.asarray(got)
    assert got_np.shape == np.shape(want), f"{what}: shape {got_np.shape} != {np.shape(want)}"
    if dtype.is_floating_point:
        rtol, atol = (2e-5, 2e-5 * scale) if dtype is ember.float32 else (1e-10, 1e-10 * scale)
        np.testing.assert_allclose(got_np.astype(np.float64), want, rtol=rtol, atol=atol, err_msg=what)
    else:
        np.testing.assert_array_equal(got_np, np.asarray(want).astype(dtype.to_numpy()), err_msg=what)


def cast(v, dtype):
    """float64 values converted the way ember converts them to dtype (integers wrap, via int64)."""
    np_dtype = dtype.to_numpy()
    return v.astype(np_dtype) if dtype.is_floating_point or dtype is ember.bool else v.astype(np.int64).astype(np_dtype)


def promote(a, a_ndim, b, b_ndim):
    """torch's type promotion for two tensors: categories bool < integer < float; a 0-dim tensor
    only decides the result when its category is higher than the dimensioned tensor's."""
    if (a_ndim == 0) != (b_ndim == 0):
        dimmed, zero = (a, b) if b_ndim == 0 else (b, a)
        return zero if CATEGORY[zero] > CATEGORY[dimmed] else dimmed
    if CATEGORY[a] != CATEGORY[b]:
        return a if CATEGORY[a] > CATEGORY[b] else b
    if {a, b} == {ember.uint8, ember.int32}:
        return ember.int32
    return a if SIZE[a] >= SIZE[b] else b


# ---- elementwise ----------------------------------------------------------------------------------------
UNARY = {  # name: (ember op, float64 reference, domain of the inputs)
    "neg": (ember.neg, np.negative, (-8, 8)),
    "abs": (ember.abs, np.abs, (-8, 8)),
    "square": (ember.square, np.square, (-8, 8)),
    "exp": (ember.exp, np.exp, (-8, 8)),
    "expm1": (ember.expm1, np.expm1, (-8, 8)),
    "log": (ember.log, np.log, (1e-3, 8)),
    "log1p": (ember.log1p, np.log1p, (-0.9, 8)),
    "sqrt": (ember.sqrt, np.sqrt, (0, 8)),
    "rsqrt": (ember.rsqrt, lambda x: 1 / np.sqrt(x), (0.01, 8)),
    "reciprocal": (ember.reciprocal, lambda x: 1 / x, (0.05, 8)),
    "sin": (ember.sin, np.sin, (-8, 8)),
    "cos": (ember.cos, np.cos, (-8, 8)),
    "tanh": (ember.tanh, np.tanh, (-8, 8)),
    "sigmoid": (ember.sigmoid, lambda x: 1 / (1 + np.exp(-x)), (-8, 8)),
    "relu": (F.relu, lambda x: np.maximum(x, 0), (-8, 8)),
    "erf": (ember.erf, np.vectorize(math.erf, otypes=[np.float64]), (-4, 4)),
    "floor": (ember.floor, np.floor, (-8, 8)),
    "ceil": (ember.ceil, np.ceil, (-8, 8)),
    "sign": (ember.sign, np.sign, (-8, 8)),
    "gelu": (F.gelu, lambda x: 0.5 * x * (1 + np.vectorize(math.erf, otypes=[np.float64])(x / math.sqrt(2))), (-6, 6)),
}
INTEGER_UNARY = ["neg", "abs", "square", "sign"]  # also defined on integer tensors, keeping the dtype


@pytest.mark.parametrize("examples", RUNS)
def test_unary_ops_match_numpy_on_any_layout(examples):
    def prop(data):
        name = data.draw(st.sampled_from(sorted(UNARY)), label="op")
        op, ref, (lo, hi) = UNARY[name]
        dtypes = FLOATS + ([ember.int64, ember.int32] if name in INTEGER_UNARY else [])
        dtype = data.draw(st.sampled_from(dtypes), label="dtype")
        a = values(data, data.draw(shapes(), label="shape"), dtype, lo, hi)
        t, a = make_input(data, a, dtype)
        out = op(t)
        assert out.dtype is dtype
        want = ref(a)
        assert_matches(out, want, dtype, scale=max(1.0, float(np.abs(want).max(initial=0))), what=name)
    run_property(examples, prop)


BINARY = {  # name: (ember op, reference on float64 values, needs a non-zero divisor)
    "add": (ember.add, np.add, False),
    "sub": (ember.sub, np.subtract, False),
    "mul": (ember.mul, np.multiply, False),
    "div": (ember.div, np.divide, True),
    "maximum": (ember.maximum, np.maximum, False),
    "minimum": (ember.minimum, np.minimum, False),
    "eq": (ember.eq, np.equal, False),
    "lt": (ember.lt, np.less, False),
    "ge": (ember.ge, np.greater_equal, False),
}


@pytest.mark.parametrize("examples", RUNS)
def test_binary_ops_broadcast_and_promote_like_torch(examples):
    def prop(data):
        name = data.draw(st.sampled_from(sorted(BINARY)), label="op")
        op, ref, nonzero = BINARY[name]
        sa, sb = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=4),
                           label="shapes").input_shapes
        da = data.draw(st.sampled_from(ALL_DTYPES), label="dtype a")
        db = data.draw(st.sampled_from(ALL_DTYPES), label="dtype b")
        if name == "sub" and da is db is ember.bool:
            return  # torch refuses bool - bool (see the error catalog)
        a, va = make_input(data, values(data, sa, da), da)
        b_vals = values(data, sb, db)
        if nonzero:
            b_vals = np.where(b_vals == 0, 1.0, b_vals)
        b, vb = make_input(data, b_vals, db)
        out = op(a, b)
        common = promote(da, len(sa), db, len(sb))
        if name in ("eq", "lt", "ge"):  # compared in the promoted dtype: int64 -1 vs uint8 is 255, as torch
            assert out.dtype is ember.bool
            np.testing.assert_array_equal(out.numpy(), ref(cast(va, common), cast(vb, common)))
            return
        if name == "div":  # true division: integers divide as the default float dtype
            common = common if common.is_floating_point else ember.float32
        assert out.dtype is common, (da, len(sa), db, len(sb), out.dtype)
        if common.is_floating_point:
            want = ref(cast(va, common).astype(np.float64), cast(vb, common).astype(np.float64))
            assert_matches(out, want, common, scale=max(1.0, float(np.abs(want).max(initial=0))), what=name)
        else:  # integers (and bools) compute in the result dtype, wrapping like it
            want = ref(cast(va, common), cast(vb, common))
            np.testing.assert_array_equal(out.numpy(), want.astype(common.to_numpy()), err_msg=name)
    run_property(examples, prop)


@pytest.mark.parametrize("examples", RUNS)
def test_binary_ops_with_python_scalars_keep_the_tensor_dtype_unless_category_rises(examples):
    def prop(data):
        dtype = data.draw(st.sampled_from(FLOATS + [ember.int64, ember.int32]), label="dtype")
        scalar = data.draw(st.one_of(st.integers(-5, 5), st.floats(-4, 4, width=32)), label="scalar")
        t, a = make_input(data, values(data, data.draw(shapes()), dtype), dtype)
        out = t * scalar + scalar
        want_dtype = ember.float32 if isinstance(scalar, float) and not dtype.is_floating_point else dtype
        assert out.dtype is want_dtype
        want = a * scalar + scalar
        if want_dtype.is_floating_point:
            assert_matches(out, want, want_dtype, scale=max(1.0, float(np.abs(want).max(initial=0))))
        else:
            np.testing.assert_array_equal(out.numpy(), want.astype(np.int64).astype(want_dtype.to_numpy()))
    run_property(examples, prop)


# ---- reductions -----------------------------------------------------------------------------------------
def reduce_dims(data, ndim):
    """None (all dims) or a non-empty set of dims, some written negative."""
    if ndim == 0 or data.draw(st.booleans(), label="all dims"):
        return None
    dims = data.draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True), label="dims")
    return tuple(d - ndim if data.draw(st.booleans()) else d for d in dims)


REDUCTIONS = {  # name: (ember call(t, dims, keepdim), numpy reference(a, axis, keepdims), float only)
    "sum": (lambda t, d, k: t.sum(d, keepdim=k) if d is not None else t.sum(), np.sum, False),
    "mean": (lambda t, d, k: t.mean(d, keepdim=k) if d is not None else t.mean(), np.mean, True),
    "prod": (lambda t, d, k: t.prod(d[0], keepdim=k) if d is not None else t.prod(),
             lambda a, axis, keepdims: np.prod(a, axis=None if axis is None else axis[0], keepdims=keepdims), False),
    "amax": (lambda t, d, k: t.amax(d, keepdim=k) if d is not None else t.amax(), np.amax, False),
    "amin": (lambda t, d, k: t.amin(d, keepdim=k) if d is not None else t.amin(), np.amin, False),
    "var": (lambda t, d, k: t.var(d, keepdim=k) if d is not None else t.var(),
            lambda a, axis, keepdims: np.var(a, axis=axis, keepdims=keepdims, ddof=1), True),
    "std0": (lambda t, d, k: t.std(d, keepdim=k, correction=0) if d is not None else t.std(correction=0), np.std, True),
    "logsumexp": (lambda t, d, k: ember.logsumexp(t, d, keepdim=k) if d is not None else
                  ember.logsumexp(t, tuple(range(t.dim()))),
                  lambda a, axis, keepdims: np.log(np.sum(np.exp(a), axis=axis, keepdims=keepdims)), True),
    "norm": (lambda t, d, k: t.norm(dim=d, keepdim=k) if d is not None else t.norm(),
             lambda a, axis, keepdims: np.sqrt(np.sum(a * a, axis=axis, keepdims=keepdims)), True),
}


@pytest.mark.parametrize("examples", RUNS)
def test_reductions_match_numpy_over_any_dims_and_layouts(examples):
    def prop(data):
        name = data.draw(st.sampled_from(sorted(REDUCTIONS)), label="op")
        op, ref, float_only = REDUCTIONS[name]
        dtype = data.draw(st.sampled_from(FLOATS if float_only else FLOATS + [ember.int64, ember.int32]), label="dtype")
        lo, hi = (-2, 2) if name == "prod" else (-8, 8)
        a = values(data, data.draw(shapes(min_dims=1), label="shape"), dtype, lo, hi)
        t, a = make_input(data, a, dtype, requires_grad=dtype.is_floating_point and name in ("sum", "mean", "var"))
        dims = reduce_dims(data, a.ndim)
        if name == "prod" and dims is not None:
            dims = dims[:1]  # prod reduces one dim (or all), as torch
        if name == "var" and (a.size if dims is None else np.prod([a.shape[d] for d in dims])) < 2:
            return  # var of one element is NaN: test_numerical_edges covers it
        keepdim = data.draw(st.booleans(), label="keepdim")
        out = op(t, dims, keepdim)
        axis = None if dims is None else tuple(d % a.ndim for d in dims)
        if not dtype.is_floating_point and name in ("sum", "prod"):
            # Integer sums and products accumulate in int64 and wrap around on overflow, as torch's
            # do (64 twos multiply to 0): the reference computes in int64 too, not in float64.
            want = ref(a.astype(np.int64), axis=axis, keepdims=keepdim and dims is not None)
            assert out.dtype is ember.int64
            np.testing.assert_array_equal(out.numpy(), np.asarray(want))
        else:
            want = ref(a, axis=axis, keepdims=keepdim and dims is not None)
            assert out.dtype is dtype
            scale = max(1.0, float(np.abs(a).max(initial=0))) ** 2
            assert_matches(out, np.asarray(want), dtype, scale=scale, what=name)
        if t.requires_grad:  # d sum = 1, d mean = 1/n, d var = 2 (x - mean) / (n - 1)
            out.sum().backward()
            n = a.size if axis is None else int(np.prod([a.shape[d] for d in axis]))
            if name == "sum":
                want_grad = np.ones_like(a)
            elif name == "mean":
                want_grad = np.full_like(a, 1.0 / n)
            else:
                want_grad = 2 * (a - a.mean(axis=axis, keepdims=True)) / (n - 1)
            assert_matches(t.grad, want_grad, dtype, what=f"{name} gradient")
    run_property(examples, prop)


@pytest.mark.parametrize("examples", RUNS)
def test_arg_reductions_and_cumsum_match_numpy(examples):
    def prop(data):
        dtype = data.draw(st.sampled_from(FLOATS + [ember.int64, ember.int32]), label="dtype")
        a = values(data, data.draw(shapes(min_dims=1), label="shape"), dtype, -3, 3)  # small range: many ties
        t, a = make_input(data, a, dtype)
        dim = data.draw(st.integers(-a.ndim, a.ndim - 1), label="dim")
        # ties: the first maximal index, as numpy and torch
        np.testing.assert_array_equal(t.argmax(dim).numpy(), np.argmax(a, axis=dim))
        np.testing.assert_array_equal(t.argmin(dim).numpy(), np.argmin(a, axis=dim))
        assert t.argmax().item() == int(np.argmax(a))
        values_, indices = t.max(dim)
        assert_matches(values_, np.max(a, axis=dim), dtype)
        np.testing.assert_array_equal(indices.numpy(), np.argmax(a, axis=dim))
        cs = ember.cumsum(t, dim)
        want = np.cumsum(a, axis=dim)
        assert cs.dtype is (dtype if dtype.is_floating_point else ember.int64)
        assert_matches(cs, want, cs.dtype, scale=max(1.0, float(np.abs(want).max(initial=0))))
    run_property(examples, prop)


# ---- matmul ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("examples", RUNS)
def test_matmul_matches_numpy_for_vectors_matrices_and_broadcast_batches(examples):
    def prop(data):
        dtype = data.draw(st.sampled_from(FLOATS), label="dtype")
        m, k, n = (data.draw(st.integers(0, 6), label=x) for x in "mkn")
        kind = data.draw(st.sampled_from(["vv", "mv", "vm", "mm", "batched"]), label="kind")
        if kind == "batched":
            ba, bb = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3, max_side=3),
                               label="batch").input_shapes
            sa, sb = ba + (m, k), bb + (k, n)
        else:
            sa = {"vv": (k,), "mv": (m, k), "vm": (k,), "mm": (m, k)}[kind]
            sb = {"vv": (k,), "mv": (k,), "vm": (k, n), "mm": (k, n)}[kind]
        grad = dtype is ember.float64
        a, va = make_input(data, values(data, sa, dtype, -2, 2), dtype, requires_grad=grad)
        b, vb = make_input(data, values(data, sb, dtype, -2, 2), dtype, requires_grad=grad)
        out = ember.matmul(a, b)
        want = np.matmul(va, vb)
        assert_matches(out, want, dtype, scale=4.0 * max(k, 1), what=kind)
        if grad:
            g = values(data, want.shape, dtype, -2, 2)
            (out * ember.tensor(g, dtype=dtype)).sum().backward()
            # matmul is linear in each operand: <dL/da, a> = <dL/db, b> = <g, a @ b>
            inner = float((g * want).sum())
            assert math.isclose(float((a.grad.numpy() * va).sum()), inner, rel_tol=1e-9, abs_tol=1e-9)
            assert math.isclose(float((b.grad.numpy() * vb).sum()), inner, rel_tol=1e-9, abs_tol=1e-9)
            if kind == "mm":
                assert_matches(a.grad, g @ vb.T, dtype, scale=4.0 * max(n, 1))
                assert_matches(b.grad, va.T @ g, dtype, scale=4.0 * max(m, 1))
    run_property(examples, prop)


# ---- conv2d and pooling ---------------------------------------------------------------------------------
def conv2d_reference(x, w, b, stride, padding, dilation, groups):
    """Direct float64 convolution: windows of the padded input, one einsum per group."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
    win = win[:, :, ::sh, ::sw, ::dh, ::dw]  # N, C, oH, oW, kH, kW
    og = o // groups
    y = np.concatenate([np.einsum("nchwij,ocij->nohw", win[:, g * cg:(g + 1) * cg], w[g * og:(g + 1) * og])
                        for g in range(groups)], axis=1)
    return y if b is None else y + b[None, :, None, None]


@pytest.mark.parametrize("examples", RUNS)
def test_conv2d_matches_the_direct_reference_with_any_hyperparameters(examples):
    def prop(data):
        dtype = data.draw(st.sampled_from(FLOATS), label="dtype")
        groups = data.draw(st.integers(1, 3), label="groups")
        c, o = groups * data.draw(st.integers(1, 2)), groups * data.draw(st.integers(1, 2))
        kh, kw = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
        stride = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
        padding = (data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2)))
        dilation = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)))
        ekh, ekw = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
        h = data.draw(st.integers(max(1, ekh - 2 * padding[0]), ekh + 5), label="H")
        w_ = data.draw(st.integers(max(1, ekw - 2 * padding[1]), ekw + 5), label="W")
        n = data.draw(st.integers(1, 2), label="N")
        grad = dtype is ember.float64
        x, vx = make_input(data, values(data, (n, c, h, w_), dtype, -2, 2), dtype, requires_grad=grad)
        wt, vw = make_input(data, values(data, (o, c // groups, kh, kw), dtype, -2, 2), dtype, requires_grad=grad)
        bias = values(data, (o,), dtype, -2, 2) if data.draw(st.booleans(), label="bias") else None
        b = None if bias is None else ember.tensor(bias, dtype=dtype, requires_grad=grad)
        out = F.conv2d(x, wt, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
        want = conv2d_reference(vx, vw, bias, stride, padding, dilation, groups)
        assert_matches(out, want, dtype, scale=4.0 * c * kh * kw // groups)
        if grad:
            g = values(data, want.shape, dtype, -2, 2)
            (out * ember.tensor(g, dtype=dtype)).sum().backward()
            # linear in x and in w: <dL/dx, x> = <dL/dw, w> = <g, conv(x, w)> without the bias
            inner = float((g * (want if bias is None else want - bias[None, :, None, None])).sum())
            assert math.isclose(float((x.grad.numpy() * vx).sum()), inner, rel_tol=1e-9, abs_tol=1e-9)
            assert math.isclose(float((wt.grad.numpy() * vw).sum()), inner, rel_tol=1e-9, abs_tol=1e-9)
            if b is not None:
                assert_matches(b.grad, g.sum((0, 2, 3)), dtype)
    run_property(examples, prop)


def pool_output_size(size, k, s, p, d, ceil_mode):
    """torch's pooling output size, with ceil_mode's rule that the last window starts inside."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def pool2d_reference(x, kind, k, s, p, d, ceil_mode, count_include_pad):
    n, c, h, w = x.shape
    oh, ow = (pool_output_size(size, k[i], s[i], p[i], d[i], ceil_mode) for i, size in enumerate((h, w)))
    y = np.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            h0, w0 = i * s[0] - p[0], j * s[1] - p[1]
            if kind == "max":
                rows = [h0 + a * d[0] for a in range(k[0]) if 0 <= h0 + a * d[0] < h]
                cols = [w0 + b * d[1] for b in range(k[1]) if 0 <= w0 + b * d[1] < w]
                y[:, :, i, j] = x[:, :, rows][:, :, :, cols].max(axis=(2, 3))
            else:  # avg: the window is clipped to the padded input, then to the input
                h1, w1 = min(h0 + k[0], h + p[0]), min(w0 + k[1], w + p[1])
                area = (h1 - h0) * (w1 - w0)
                h0c, w0c, h1c, w1c = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
                total = x[:, :, h0c:h1c, w0c:w1c].sum(axis=(2, 3))
                y[:, :, i, j] = total / (area if count_include_pad else (h1c - h0c) * (w1c - w0c))
    return y


def adaptive_avg_reference(x, out_hw):
    n, c, h, w = x.shape
    y = np.empty((n, c) + tuple(out_hw))
    for i in range(out_hw[0]):
        for j in range(out_hw[1]):
            r0, r1 = (i * h) // out_hw[0], -(-((i + 1) * h) // out_hw[0])
            c0, c1 = (j * w) // out_hw[1], -(-((j + 1) * w) // out_hw[1])
            y[:, :, i, j] = x[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
    return y


@pytest.mark.parametrize("examples", RUNS)
def test_pooling_matches_the_direct_reference_with_any_hyperparameters(examples):
    def prop(data):
        dtype = data.draw(st.sampled_from(FLOATS), label="dtype")
        kind = data.draw(st.sampled_from(["max", "avg", "adaptive"]), label="kind")
        k = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
        s = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
        p = (data.draw(st.integers(0, k[0] // 2)), data.draw(st.integers(0, k[1] // 2)))
        d = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))) if kind == "max" else (1, 1)
        ceil_mode, count_include_pad = data.draw(st.booleans()), data.draw(st.booleans())
        h = data.draw(st.integers(d[0] * (k[0] - 1) + 1, 8), label="H")
        w = data.draw(st.integers(d[1] * (k[1] - 1) + 1, 8), label="W")
        shape = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3)), h, w)
        grad = dtype is ember.float64
        x, vx = make_input(data, values(data, shape, dtype), dtype, requires_grad=grad)
        if kind == "max":
            out = F.max_pool2d(x, k, s, p, d, ceil_mode=ceil_mode)
            want = pool2d_reference(vx, "max", k, s, p, d, ceil_mode, True)
        elif kind == "avg":
            out = F.avg_pool2d(x, k, s, p, ceil_mode=ceil_mode, count_include_pad=count_include_pad)
            want = pool2d_reference(vx, "avg", k, s, p, d, ceil_mode, count_include_pad)
        else:
            out_hw = (data.draw(st.integers(1, h)), data.draw(st.integers(1, w)))
            out = F.adaptive_avg_pool2d(x, out_hw)
            want = adaptive_avg_reference(vx, out_hw)
        assert_matches(out, want, dtype, scale=8.0, what=kind)
        if grad:
            g = values(data, want.shape, dtype, -2, 2)
            (out * ember.tensor(g, dtype=dtype)).sum().backward()
            # avg pools are linear and max pool routes g to the chosen input: <dL/dx, x> = <g, y>
            assert math.isclose(float((x.grad.numpy() * vx).sum()), float((g * want).sum()), rel_tol=1e-9,
                                abs_tol=1e-9)
    run_property(examples, prop)
