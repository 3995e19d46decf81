"""Reductions (sum, mean, ...) and their gradients."""
from __future__ import annotations

import builtins

from .. import _C
from .. import _dtype as dt
from ..autograd import Function, _state
from ..tensor import Tensor

SUM, MEAN, PROD, MAX, MIN, ALL, ANY, ARGMAX, ARGMIN = range(9)
_wrap = Tensor._wrap


def _dims(x, dim):
    """dim=None -> all dims ([]); an int or a sequence -> list of ints."""
    if dim is None:
        return []
    if isinstance(dim, int):
        return [dim]
    return list(dim)


def _kept_shape(shape, dims):
    """Shape with reduced dims set to 1 (what keepdim=True gives)."""
    nd = len(shape)
    red = set(d % nd for d in dims) if dims else set(range(nd))
    return tuple(1 if i in red else s for i, s in enumerate(shape))


def _sum_dtype(x, dtype):
    if dtype is not None:
        return dt.to_dtype(dtype)
    d = x.dtype
    return dt.int64 if (d is dt.bool or not d.is_floating_point) else d


class Sum(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim, dtype):
        ctx.shape = x._c.shape
        ctx.dims, ctx.keepdim = dims, keepdim
        return _wrap(_C.reduce(SUM, x._c, dims, keepdim, dtype.code))

    @staticmethod
    def backward(ctx, g):
        from .shape import expand, reshape
        if not ctx.keepdim and ctx.shape:
            g = reshape(g, _kept_shape(ctx.shape, ctx.dims))
        return expand(g, ctx.shape), None, None, None


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
        from .shape import expand, reshape
        if not ctx.keepdim and ctx.shape:
            g = reshape(g, _kept_shape(ctx.shape, ctx.dims))
        return expand(g / ctx.count, ctx.shape), None, None, None


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


def all(input, dim=None, keepdim=False):
    return _wrap(_C.reduce(ALL, input._c, _dims(input, dim), keepdim, dt.bool.code))


def any(input, dim=None, keepdim=False):
    return _wrap(_C.reduce(ANY, input._c, _dims(input, dim), keepdim, dt.bool.code))
