"""Reductions (sum, mean, prod, max/min, var/std, norm, logsumexp, cumsum, ...) and their gradients.

Every backward is written with differentiable ember ops, so create_graph / gradgradcheck work."""
from __future__ import annotations

import builtins
import math
from collections import namedtuple

from .. import _C
from .. import _dtype as dt
from ..autograd import Function, _state
from ..tensor import Tensor
from .shape import _contig_strides, _view_of, expand, reshape

SUM, MEAN, PROD, MAX, MIN, ALL, ANY, ARGMAX, ARGMIN = range(9)
VAR, STD, NORM, LOGSUMEXP = range(4)  # StatOp in csrc/ops/reduce.h
_wrap = Tensor._wrap


class return_types:
    """Named tuples returned by reductions that give values and indices (torch.return_types)."""
    max = namedtuple("max", ["values", "indices"])
    min = namedtuple("min", ["values", "indices"])


def _dims(x, dim):
    """dim=None -> all dims ([]); an int or a sequence -> list of ints (duplicates raise like torch)."""
    if dim is None:
        return []
    if isinstance(dim, int):
        return [dim]
    dims = list(dim)
    if len(dims) > 1:
        n = builtins.max(x._c.ndim, 1)
        seen = set()
        for d in dims:
            w = d + n if d < 0 else d
            if w in seen and 0 <= w < n:
                raise RuntimeError(f"dim {w} appears multiple times in the list of dims")
            seen.add(w)
    return dims


def _kept_shape(shape, dims):
    """Shape with reduced dims set to 1 (what keepdim=True gives)."""
    nd = len(shape)
    if not nd:
        return shape
    red = set(d % nd for d in dims) if dims else set(range(nd))
    return tuple(1 if i in red else s for i, s in enumerate(shape))


def _keep(t, shape, dims, keepdim):
    """A reduced tensor reshaped so that it broadcasts against the input of `shape`."""
    if keepdim or not shape:
        return t
    kept = _kept_shape(shape, dims)
    c = t._c
    if not (_state.enabled and t._requires_grad) and c.is_contiguous():
        return _view_of(t, c.as_strided(kept, _contig_strides(kept), c.offset))  # reshape's result, sooner
    return reshape(t, kept)


def _expand_back(g, shape, dims, keepdim):
    c = g._c
    if not dims and not _state.enabled and c.numel == 1:
        # The gradient of a full reduction, no graph wanted: a stride-0 view of g, in one call.
        return _view_of(g, c.as_strided(shape, (0,) * len(shape), c.offset))
    return expand(_keep(g, shape, dims, keepdim), shape)


def _sum_dtype(x, dtype):
    if dtype is not None:
        return dt.to_dtype(dtype)
    d = x.dtype
    return dt.int64 if (d is dt.bool or not d.is_floating_point) else d


def _red_count(shape, dims):
    if not shape:
        return 1
    if not dims:
        return math.prod(shape)
    return math.prod(shape[d % len(shape)] for d in set(d % len(shape) for d in dims))


def _grad_on(x):
    return _state.enabled and x._requires_grad


# ---- sum / mean / prod -----------------------------------------------------------------------------
class Sum(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim, dtype):
        ctx.shape = x._c.shape
        ctx.dims, ctx.keepdim = dims, keepdim
        return _wrap(_C.reduce(SUM, x._c, dims, keepdim, dtype.code))

    @staticmethod
    def backward(ctx, g):
        return _expand_back(g, ctx.shape, ctx.dims, ctx.keepdim), None, None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim, dtype):
        ctx.shape = x._c.shape
        ctx.dims, ctx.keepdim = dims, keepdim
        out = _wrap(_C.reduce(MEAN, x._c, dims, keepdim, dtype.code))
        ctx.count = builtins.max(x._c.numel, 1) // builtins.max(out._c.numel, 1) if x._c.numel else 0
        return out

    @staticmethod
    def backward(ctx, g):
        return _expand_back(g / ctx.count, ctx.shape, ctx.dims, ctx.keepdim), None, None, None


def sum(input, dim=None, keepdim=False, *, dtype=None):
    dims = _dims(input, dim)
    out_dtype = _sum_dtype(input, dtype)
    if _state.enabled and input._requires_grad:
        return Sum.apply(input, dims, keepdim, out_dtype)
    return _wrap(_C.reduce(SUM, input._c, dims, keepdim, out_dtype.code))


def mean(input, dim=None, keepdim=False, *, dtype=None):
    out_dtype = dt.to_dtype(dtype) if dtype is not None else input.dtype
    if not out_dtype.is_floating_point:
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a floating point "
                           f"or complex dtype. Got: {input.dtype.name.capitalize()}")
    x = input if input.dtype is out_dtype else input.to(out_dtype)
    dims = _dims(input, dim)
    if _state.enabled and x._requires_grad:
        return Mean.apply(x, dims, keepdim, out_dtype)
    return _wrap(_C.reduce(MEAN, x._c, dims, keepdim, out_dtype.code))


class Prod(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim, dtype):
        ctx.dims, ctx.keepdim = dims, keepdim
        out = _wrap(_C.reduce(PROD, x._c, dims, keepdim, dtype.code))
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        from .elementwise import where
        x, out = ctx.saved_tensors
        shape, dims = x._c.shape, ctx.dims
        # d prod / d x_i = product of the others: out / x_i where x_i != 0 (this also gives the right
        # derivative with respect to a zero elsewhere); where x_i == 0, the product of the non-zero
        # entries if x_i is the only zero, else 0. Zeros are masked out of every division.
        # (With two or more zeros the second derivative between two zero entries is taken as 0.)
        is_zero = x == 0
        x_safe = where(is_zero, 1.0, x)
        prod_nz = _prod_dims(x_safe, dims)
        zeros = sum(is_zero, dims, keepdim=True)
        other = where(is_zero, where(zeros == 1, prod_nz, 0.0), _keep(out, shape, dims, ctx.keepdim) / x_safe)
        return _keep(g, shape, dims, ctx.keepdim) * other, None, None, None


def _prod_dims(x, dims):
    """prod over a list of dims (keepdim), differentiably: one dim at a time."""
    out = x
    for d in (dims or range(x._c.ndim)):
        out = prod(out, d, keepdim=True)
    return out


def prod(input, dim=None, keepdim=False, *, dtype=None):
    out_dtype = _sum_dtype(input, dtype)
    x = input if input.dtype is out_dtype or not out_dtype.is_floating_point else input.to(out_dtype)
    dims = [] if dim is None else [dim]
    if _grad_on(x):
        return Prod.apply(x, dims, keepdim, out_dtype)
    return _wrap(_C.reduce(PROD, x._c, dims, keepdim, out_dtype.code))


# ---- max / min / amax / amin / argmax / argmin -------------------------------------------------------
class _Extreme(Function):
    """max/min/amax/amin without indices: ties share the gradient evenly (as torch does)."""
    op = MAX

    @classmethod
    def forward(cls, ctx, x, dims, keepdim):
        ctx.dims, ctx.keepdim = dims, keepdim
        out = _wrap(_C.reduce(cls.op, x._c, dims, keepdim, x._c.dtype))
        ctx.save_for_backward(x, out)
        return out

    @classmethod
    def backward(cls, ctx, g):
        from .elementwise import where
        x, out = ctx.saved_tensors
        shape = x._c.shape
        mask = x == _keep(out.detach(), shape, ctx.dims, ctx.keepdim)
        count = sum(mask, ctx.dims, keepdim=True).to(g.dtype)
        return where(mask, _keep(g, shape, ctx.dims, ctx.keepdim) / count, 0.0), None, None


class _Amax(_Extreme):
    op = MAX
    _backward_name = "AmaxBackward0"


class _Amin(_Extreme):
    op = MIN
    _backward_name = "AminBackward0"


class _ExtremeDim(Function):
    """max/min over one dim, giving (values, indices); the gradient flows to the selected index."""
    is_max = True
    _materialize_grads = False  # no zero gradient is made for the indices output

    @classmethod
    def forward(cls, ctx, x, dim, keepdim):
        v, i = _C.reduce_with_indices(cls.is_max, x._c, dim, keepdim)
        values, indices = _wrap(v), _wrap(i)
        ctx.shape, ctx.dim, ctx.keepdim = x._c.shape, dim, keepdim
        ctx.save_for_backward(indices)
        return values, indices

    @classmethod
    def backward(cls, ctx, g, _g_indices=None):
        (indices,) = ctx.saved_tensors
        if g is None:
            return None, None, None
        return _scatter_to_index(g, indices, ctx.shape, ctx.dim, ctx.keepdim), None, None


class _MaxDim(_ExtremeDim):
    is_max = True
    _backward_name = "MaxBackward0"


class _MinDim(_ExtremeDim):
    is_max = False
    _backward_name = "MinBackward0"


class _MaxAll(_Extreme):
    op = MAX
    _backward_name = "MaxBackward1"


class _MinAll(_Extreme):
    op = MIN
    _backward_name = "MinBackward1"


def _scatter_to_index(g, indices, shape, dim, keepdim):
    """A zero tensor of `shape` holding g at `indices` along dim (the backward of max(x, dim))."""
    if not shape:
        return g
    from .elementwise import EQ, where
    d = dim % len(shape)
    positions = _positions(shape, d, g._c)
    mask = _wrap(_C.binary(EQ, positions, _keep(indices, shape, [d], keepdim)._c))
    return where(mask, _keep(g, shape, [d], keepdim), 0.0)


_POSITIONS = {}  # (n, device) -> int64 [0, n): read-only operands of the comparison above


def _positions(shape, d, like):
    """0, 1, ..., shape[d]-1 along dim d (size 1 elsewhere), on like's device."""
    n = shape[d]
    key = (n, like.device_type, like.device_index)
    p = _POSITIONS.get(key)
    if p is None:
        from ..creation import arange
        from .._device import from_codes
        if len(_POSITIONS) > 64:
            _POSITIONS.clear()
        p = _POSITIONS[key] = arange(n, device=from_codes(like.device_type, like.device_index))._c
    ndim = len(shape)
    return p.as_strided(tuple(n if i == d else 1 for i in range(ndim)), tuple(1 if i == d else 0 for i in range(ndim)),
                        0)


def _extreme(input, dim, keepdim, is_max, name):
    from . import elementwise as ew
    if isinstance(dim, Tensor):
        return (ew.maximum if is_max else ew.minimum)(input, dim)
    if dim is None:
        if keepdim:
            raise TypeError(f"{name}() received an invalid combination of arguments: keepdim requires dim")
        if _grad_on(input):
            return (_MaxAll if is_max else _MinAll).apply(input, [], False)
        return _wrap(_C.reduce(MAX if is_max else MIN, input._c, [], False, input._c.dtype))
    if not isinstance(dim, int):
        raise TypeError(f"{name}(): argument 'dim' must be int, not {type(dim).__name__}")
    rt = return_types.max if is_max else return_types.min
    if _grad_on(input):
        return rt(*(_MaxDim if is_max else _MinDim).apply(input, dim, keepdim))
    v, i = _C.reduce_with_indices(is_max, input._c, dim, keepdim)
    return rt(_wrap(v), _wrap(i))


def max(input, dim=None, keepdim=False):
    """max(x) -> 0-d tensor; max(x, dim, keepdim=False) -> (values, indices); max(x, other) -> maximum."""
    return _extreme(input, dim, keepdim, True, "max")


def min(input, dim=None, keepdim=False):
    """min(x) -> 0-d tensor; min(x, dim, keepdim=False) -> (values, indices); min(x, other) -> minimum."""
    return _extreme(input, dim, keepdim, False, "min")


def amax(input, dim=(), keepdim=False):
    dims = _dims(input, dim)
    if _grad_on(input):
        return _Amax.apply(input, dims, keepdim)
    return _wrap(_C.reduce(MAX, input._c, dims, keepdim, input._c.dtype))


def amin(input, dim=(), keepdim=False):
    dims = _dims(input, dim)
    if _grad_on(input):
        return _Amin.apply(input, dims, keepdim)
    return _wrap(_C.reduce(MIN, input._c, dims, keepdim, input._c.dtype))


def argmax(input, dim=None, keepdim=False):
    return _wrap(_C.reduce(ARGMAX, input._c, [] if dim is None else [dim], keepdim, dt.int64.code))


def argmin(input, dim=None, keepdim=False):
    return _wrap(_C.reduce(ARGMIN, input._c, [] if dim is None else [dim], keepdim, dt.int64.code))


# ---- var / std -----------------------------------------------------------------------------------------
def _correction(name, dim, unbiased, correction):
    if isinstance(dim, bool):  # legacy var(x, unbiased)
        dim, unbiased = None, dim
    if unbiased is not None:
        if correction is not None:
            raise RuntimeError(f"{name}: can't specify both correction and unbiased arguments")
        correction = 1 if unbiased else 0
    return dim, 1 if correction is None else correction


def _check_float(input, name="std and var"):
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"{name} only support floating point and complex dtypes")


class Var(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim, correction):
        ctx.dims, ctx.keepdim, ctx.correction = dims, keepdim, correction
        ctx.save_for_backward(x)
        return _wrap(_C.reduce_stat(VAR, x._c, dims, keepdim, float(correction)))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return _var_backward(g, x, ctx.dims, ctx.keepdim, ctx.correction), None, None, None


def _var_backward(g, x, dims, keepdim, correction):
    # d var / d x_i = 2 (x_i - mean) / (N - correction)
    n = _red_count(x._c.shape, dims)
    denom = builtins.max(n - correction, 0)
    centred = x - mean(x, dims, keepdim=True)
    scale = 2.0 / denom if denom else math.inf
    return _keep(g, x._c.shape, dims, keepdim) * centred * scale


class Std(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim, correction):
        ctx.dims, ctx.keepdim, ctx.correction = dims, keepdim, correction
        out = _wrap(_C.reduce_stat(STD, x._c, dims, keepdim, float(correction)))
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        # d std = d var / (2 std); torch takes it as 0 where std == 0 (a constant input), not 0/0.
        from .elementwise import where
        x, out = ctx.saved_tensors
        g = where(out == 0, 0.0, g / (2 * out))
        return _var_backward(g, x, ctx.dims, ctx.keepdim, ctx.correction), None, None, None


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    dim, c = _correction("var", dim, unbiased, correction)
    _check_float(input)
    dims = _dims(input, dim)
    if _grad_on(input):
        return Var.apply(input, dims, keepdim, c)
    return _wrap(_C.reduce_stat(VAR, input._c, dims, keepdim, float(c)))


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    dim, c = _correction("std", dim, unbiased, correction)
    _check_float(input)
    dims = _dims(input, dim)
    if _grad_on(input):
        return Std.apply(input, dims, keepdim, c)
    return _wrap(_C.reduce_stat(STD, input._c, dims, keepdim, float(c)))


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    dim, c = _correction("var_mean", dim, unbiased, correction)
    return var(input, dim, keepdim=keepdim, correction=c), mean(input, dim, keepdim=keepdim)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    dim, c = _correction("std_mean", dim, unbiased, correction)
    return std(input, dim, keepdim=keepdim, correction=c), mean(input, dim, keepdim=keepdim)


# ---- norm / logsumexp ----------------------------------------------------------------------------------
class Norm(Function):
    @staticmethod
    def forward(ctx, x, p, dims, keepdim):
        ctx.p, ctx.dims, ctx.keepdim = p, dims, keepdim
        out = _wrap(_C.reduce_stat(NORM, x._c, dims, keepdim, float(p)))
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        from . import elementwise as ew
        x, out = ctx.saved_tensors
        p, shape = ctx.p, x._c.shape
        g = _keep(g, shape, ctx.dims, ctx.keepdim)
        out = _keep(out, shape, ctx.dims, ctx.keepdim)
        if p == 0:
            gx = x * 0.0
        elif p == 1:
            gx = g * ew.sign(x)
        elif p == 2:
            # x / ||x||, with 0 where the norm is 0 (x is 0 there too)
            gx = g * x / ew.where(out == 0, 1.0, out)
        elif math.isinf(p):
            mask = ew.abs(x) == out.detach()
            count = sum(mask, ctx.dims, keepdim=True).to(g.dtype)
            gx = ew.where(mask, g * ew.sign(x) / count, 0.0)
        else:
            # sign(x) |x|^(p-1) / ||x||^(p-1)
            gx = g * ew.sign(x) * ew.abs(x) ** (p - 1) / ew.where(out == 0, 1.0, out) ** (p - 1)
        return gx, None, None, None


def _vector_norm(x, p, dims, keepdim, dtype, name):
    if dtype is not None:
        x = x.to(dt.to_dtype(dtype))
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"{name}(): input dtype should be either floating point or complex. "
                           f"Got {x.dtype.name.capitalize()} instead.")
    if _grad_on(x):
        return Norm.apply(x, p, dims, keepdim)
    return _wrap(_C.reduce_stat(NORM, x._c, dims, keepdim, float(p)))


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """torch.norm: vector p-norms over `dim` (all dims by default); 'fro' is the 2-norm."""
    if p is None or p == "fro":
        p = 2
    elif isinstance(p, str):
        raise NotImplementedError(f"norm(): p={p!r} is not supported by ember (only vector norms and 'fro')")
    return _vector_norm(input, p, _dims(input, dim), keepdim, dtype, "linalg.vector_norm")


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """torch.linalg.vector_norm."""
    return _vector_norm(x, ord, _dims(x, dim), keepdim, dtype, "linalg.vector_norm")


class LogSumExp(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.dims, ctx.keepdim = dims, keepdim
        out = _wrap(_C.reduce_stat(LOGSUMEXP, x._c, dims, keepdim, 0.0))
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        from .elementwise import exp
        x, out = ctx.saved_tensors
        shape = x._c.shape
        # d lse / d x_i = softmax(x)_i = exp(x_i - lse)
        return _keep(g, shape, ctx.dims, ctx.keepdim) * exp(x - _keep(out, shape, ctx.dims, ctx.keepdim)), \
            None, None


def logsumexp(input, dim, keepdim=False):
    x = input if input.dtype.is_floating_point else input.to(dt.get_default_dtype())
    dims = _dims(x, dim)
    if _grad_on(x):
        return LogSumExp.apply(x, dims, keepdim)
    return _wrap(_C.reduce_stat(LOGSUMEXP, x._c, dims, keepdim, 0.0))


# ---- cumsum --------------------------------------------------------------------------------------------
class Cumsum(Function):
    @staticmethod
    def forward(ctx, x, dim, dtype):
        ctx.dim = dim
        return _wrap(_C.cumsum(x._c, dim, dtype.code))

    @staticmethod
    def backward(ctx, g):
        # the reversed cumulative sum: sum_{j >= i} g_j = total - cumsum(g)_i + g_i
        return sum(g, ctx.dim, keepdim=True) - cumsum(g, ctx.dim) + g, None, None


def cumsum(input, dim, *, dtype=None):
    out_dtype = _sum_dtype(input, dtype)
    if out_dtype is dt.bool:
        raise RuntimeError("cumsum(): bool output dtype is not supported")
    if _grad_on(input) and out_dtype.is_floating_point:
        return Cumsum.apply(input, dim, out_dtype)
    return _wrap(_C.cumsum(input._c, dim, out_dtype.code))


# ---- counting / logical ----------------------------------------------------------------------------
def count_nonzero(input, dim=None):
    return _wrap(_C.reduce(SUM, (input != 0)._c, _dims(input, dim), False, dt.int64.code))


def all(input, dim=None, keepdim=False):
    return _wrap(_C.reduce(ALL, input._c, _dims(input, dim), keepdim, dt.bool.code))


def any(input, dim=None, keepdim=False):
    return _wrap(_C.reduce(ANY, input._c, _dims(input, dim), keepdim, dt.bool.code))
