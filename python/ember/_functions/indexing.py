"""Indexing: Tensor.__getitem__/__setitem__ (NumPy/torch rules), gather/scatter, index_select/index_add,
masked ops, take/put, nonzero and one_hot, with their gradients.

Every gather-like op is described by a *spec* whose ``plan(c)`` turns a C++ tensor of the
indexed shape into (source view, element offsets) for ``_C.index_gather`` / ``_C.index_scatter_``.
Because a plan can be made for any tensor of that shape, the same spec serves the forward (on the
input), the backward (on a zero gradient buffer) and the double backward.
"""
from __future__ import annotations

import builtins
import numbers

import numpy as np

from .. import _C
from .. import _dtype as dt
from ..autograd import Function, _state
from ..tensor import Tensor
from .shape import _wrap_dim, strided_view

_wrap = Tensor._wrap
_INT64 = dt.int64.code


def _contig_strides(shape):
    strides, acc = [0] * len(shape), 1
    for i in range(len(shape) - 1, -1, -1):
        strides[i] = acc
        acc *= builtins.max(shape[i], 1)
    return tuple(strides)


def _zeros_c(shape, like):
    return _C.full(list(shape), 0, like.dtype, like.device_type, like.device_index)


def _zero_offsets(shape, like):
    z = _C.full([], 0, _INT64, like.device_type, like.device_index)
    return z.as_strided(tuple(shape), (0,) * len(shape), z.offset)


# ---- specs ------------------------------------------------------------------------------------
class _AdvancedSpec:
    """Advanced (integer-array) indexing of dims `positions` after an optional basic view `geom`."""
    __slots__ = ("geom", "positions", "indices", "dims", "bshape")

    def __init__(self, geom, positions, indices, dims, bshape):
        self.geom, self.positions, self.indices, self.dims, self.bshape = geom, positions, indices, dims, bshape

    def plan(self, c):
        shape, strides, off = self.geom(c.shape, c.strides, c.offset) if self.geom else (c.shape, c.strides, c.offset)
        if not self.indices:
            return c.as_strided(shape, strides, off), _zero_offsets(shape, c)
        pos = self.positions
        offs = _C.index_offsets(self.indices, [shape[p] for p in pos], [strides[p] for p in pos], self.dims,
                                list(self.bshape))
        rest = [d for d in range(len(shape)) if d not in pos]
        adjacent = pos == list(range(pos[0], pos[0] + len(pos)))
        before = [d for d in rest if d < pos[0]] if adjacent else []
        after = [d for d in rest if d not in before]
        nb = len(self.bshape)
        out_shape = tuple(shape[d] for d in before) + tuple(self.bshape) + tuple(shape[d] for d in after)
        src_strides = tuple(strides[d] for d in before) + (0,) * nb + tuple(strides[d] for d in after)
        off_strides = (0,) * len(before) + _contig_strides(self.bshape) + (0,) * len(after)
        return c.as_strided(out_shape, src_strides, off), offs.as_strided(out_shape, off_strides, offs.offset)


class GatherIndexError(IndexError, RuntimeError):
    """An out-of-range index in gather/scatter: torch raises RuntimeError there, ember's rule is IndexError."""


class _GatherSpec:
    """gather/scatter along `dim`: position p reads dim `dim` at index[p], other dims at p."""
    __slots__ = ("dim", "index")

    def __init__(self, dim, index):
        self.dim, self.index = dim, index

    def plan(self, c):
        d, idx = self.dim, self.index
        strides = list(c.strides) if c.ndim else []
        if strides:
            strides[d] = 0
        view = c.as_strided(idx.shape, tuple(strides), c.offset)
        try:
            offs = _C.index_offsets([idx], [c.shape[d] if c.ndim else 1], [c.strides[d] if c.ndim else 0], [d],
                                    list(idx.shape), False)
        except IndexError as e:
            raise GatherIndexError(str(e)) from None
        return view, offs


class _SelectSpec:
    """index_select / index_add along `dim` with a 1-D index."""
    __slots__ = ("dim", "index")

    def __init__(self, dim, index):
        self.dim, self.index = dim, index

    def plan(self, c):
        d, idx = self.dim, self.index
        n = idx.shape[0] if idx.ndim else 1
        if c.ndim == 0:
            offs = _C.index_offsets([idx], [1], [0], [0], [n])
            return c.as_strided((n,), (0,), c.offset), offs
        shape, strides = list(c.shape), list(c.strides)
        offs = _C.index_offsets([idx], [shape[d]], [strides[d]], [d], [n])
        shape[d], strides[d] = n, 0
        off_strides = [0] * len(shape)
        off_strides[d] = 1
        return c.as_strided(tuple(shape), tuple(strides), c.offset), offs.as_strided(tuple(shape), tuple(off_strides),
                                                                                  offs.offset)


# ---- the three differentiable primitives ---------------------------------------------------------
class _Index(Function):
    """out = x[spec] (a copy)."""
    _backward_name = "IndexBackward0"

    @staticmethod
    def forward(ctx, x, spec):
        ctx.spec, ctx.in_shape = spec, x._c.shape
        return _wrap(_C.index_gather(*spec.plan(x._c)))

    @staticmethod
    def backward(ctx, g):
        return _IndexBackward.apply(g, ctx.spec, ctx.in_shape), None


class _IndexBackward(Function):
    """out = zeros(shape); out[spec] += g (repeated positions accumulate)."""
    _backward_name = "IndexPutBackward0"

    @staticmethod
    def forward(ctx, g, spec, shape):
        ctx.spec = spec
        z = _zeros_c(shape, g._c)
        view, offs = spec.plan(z)
        _C.index_scatter_(view, offs, g._c, True)
        return _wrap(z)

    @staticmethod
    def backward(ctx, gg):
        return index_with_spec(gg, ctx.spec), None, None


class _Scatter(Function):
    """out = x.clone(); out[spec] = values (accumulate=False) or += values (True)."""
    _backward_name = "IndexPutBackward0"

    @staticmethod
    def forward(ctx, x, values, spec, accumulate):
        ctx.spec, ctx.accumulate = spec, accumulate
        ctx.v_shape = values._c.shape
        out = x._c.clone()
        view, offs = spec.plan(out)
        _C.index_scatter_(view, offs, values._c, accumulate)
        return _wrap(out)

    @staticmethod
    def backward(ctx, g):
        gx = gv = None
        if ctx.needs_input_grad[0]:
            gx = g if ctx.accumulate else scatter_with_spec(g, _scalar_like(0, g), ctx.spec, False)
        if ctx.needs_input_grad[1]:
            from .elementwise import sum_to
            gv = sum_to(index_with_spec(g, ctx.spec), ctx.v_shape)
        return gx, gv, None, None


def _scalar_like(value, ref):
    return _wrap(_C.full([], value, ref._c.dtype, ref._c.device_type, ref._c.device_index))


def index_with_spec(x, spec):
    if _state.enabled and x._requires_grad:
        return _Index.apply(x, spec)
    return _wrap(_C.index_gather(*spec.plan(x._c)))


def scatter_with_spec(x, values, spec, accumulate):
    if _state.enabled and (x._requires_grad or values._requires_grad):
        return _Scatter.apply(x, values, spec, accumulate)
    out = x._c.clone()
    view, offs = spec.plan(out)
    _C.index_scatter_(view, offs, values._c, accumulate)
    return _wrap(out)


# ---- index conversion ----------------------------------------------------------------------------
def _as_index_tensor(obj, device):
    """A list / ndarray / Tensor used as an index -> Tensor (bool or integer)."""
    from ..creation import tensor
    if isinstance(obj, Tensor):
        t = obj
    elif isinstance(obj, np.ndarray):
        t = tensor(obj)
    else:
        if len(obj) == 0:
            t = tensor([], dtype=dt.int64)
        else:
            t = tensor(obj)
    if t.dtype.is_floating_point:
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    if t.device != device:
        t = t.to(device)
    return t


def _is_int(obj):
    return isinstance(obj, (builtins.int, np.integer)) and not isinstance(obj, (builtins.bool, np.bool_))


def _parse_key(x, key):
    """Splits a key into a basic view geometry and advanced indices on the view's dims.

    Returns (geom, view_name, adv) where adv is None or (positions, tensors, source_dims)."""
    if not isinstance(key, tuple):
        key = (key,)
    items = []
    for k in key:
        if k is None or k is Ellipsis or isinstance(k, slice) or _is_int(k):
            items.append(k)
        elif isinstance(k, (builtins.bool, np.bool_)):
            items.append(builtins.bool(k))
        elif isinstance(k, Tensor) and k._c.ndim == 0 and not k.dtype.is_floating_point and k.dtype is not dt.bool:
            items.append(_as_index_tensor(k, x.device))
        elif isinstance(k, (Tensor, np.ndarray, list)):
            items.append(_as_index_tensor(k, x.device))
        elif hasattr(k, "__index__"):
            items.append(k.__index__())
        else:
            raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are "
                             f"valid indices (got {type(k).__name__})")
    consumed = 0
    for k in items:
        if isinstance(k, Tensor):
            consumed += k._c.ndim if k.dtype is dt.bool else 1
        elif k is not None and k is not Ellipsis and not isinstance(k, builtins.bool):
            consumed += 1
    n = x._c.ndim
    if consumed > n:
        raise IndexError(f"too many indices for tensor of dimension {n}")
    if builtins.sum(1 for k in items if k is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    # ops: ('new',) | ('int', i) | ('slice', start, step, length) | ('keep',) per input dim,
    # plus advanced tensors placed on output dims.
    ops = []
    adv = []  # (first output dim, tensor, input dim)
    in_dim = 0
    shape = x._c.shape
    out_dim = 0
    for k in items:
        if k is Ellipsis:
            for _ in range(n - consumed):
                ops.append(("keep",))
                in_dim += 1
                out_dim += 1
            consumed = n  # a second pass would not add more
        elif k is None:
            ops.append(("new",))
            out_dim += 1
        elif isinstance(k, builtins.bool):
            # NumPy/torch: a bool scalar is a 0-d mask, i.e. an advanced index over a new size-1 dim.
            ops.append(("new",))
            adv.append((out_dim, "true" if k else "false", None))
            out_dim += 1
        elif isinstance(k, Tensor):
            if k.dtype is dt.bool:
                kd = k._c.ndim
                for j in range(kd):
                    if k._c.shape[j] != shape[in_dim + j]:
                        raise IndexError(f"The shape of the mask {list(k._c.shape)} at index {j} does not match the "
                                         f"shape of the indexed tensor {list(shape)} at index {in_dim + j}")
                if kd == 0:  # a 0-d mask acts like a bool scalar
                    ops.append(("new",))
                    adv.append((out_dim, "mask0", k))
                    out_dim += 1
                    continue
                nz = _C.nonzero(k._c)
                for j in range(kd):
                    col = nz.as_strided((nz.shape[0],), (nz.strides[0],), nz.offset + j * nz.strides[1])
                    adv.append((out_dim, col, in_dim))
                    ops.append(("keep",))
                    in_dim += 1
                    out_dim += 1
            else:
                adv.append((out_dim, k._c, in_dim))
                ops.append(("keep",))
                in_dim += 1
                out_dim += 1
        elif isinstance(k, slice):
            size = shape[in_dim]
            if k.step is not None and _slice_int(k.step) <= 0:
                if _slice_int(k.step) == 0:
                    raise ValueError("slice step cannot be zero")
                raise ValueError("step must be greater than zero")
            start, stop, step = slice(_slice_int(k.start), _slice_int(k.stop), _slice_int(k.step)).indices(size)
            length = builtins.max(0, (stop - start + step - 1) // step)
            ops.append(("slice", start, step, length))
            in_dim += 1
            out_dim += 1
        else:
            size = shape[in_dim]
            i = builtins.int(k)
            if i < -size or i >= size:
                raise IndexError(f"index {i} is out of bounds for dimension {in_dim} with size {size}")
            ops.append(("int", i % size))
            in_dim += 1
    while in_dim < n:
        ops.append(("keep",))
        in_dim += 1
    return ops, adv


def _slice_int(v):
    if v is None:
        return None
    if isinstance(v, Tensor):
        return builtins.int(v.item())
    return v.__index__()


def _basic_geom(ops):
    def geom(shape, strides, offset):
        out_shape, out_strides = [], []
        d = 0
        for op in ops:
            kind = op[0]
            if kind == "new":
                out_shape.append(1)
                out_strides.append(strides[d] * shape[d] if d < len(shape) else 1)
            elif kind == "keep":
                out_shape.append(shape[d])
                out_strides.append(strides[d])
                d += 1
            elif kind == "int":
                offset += op[1] * strides[d]
                d += 1
            else:
                _, start, step, length = op
                if length:
                    offset += start * strides[d]
                out_shape.append(length)
                out_strides.append(strides[d] * step)
                d += 1
        return tuple(out_shape), tuple(out_strides), offset
    return geom


def _view_name(ops):
    kinds = {op[0] for op in ops} - {"keep"}
    if kinds == {"int"}:
        return "Select"
    if kinds == {"new"}:
        return "Unsqueeze"
    if not kinds:
        return "Alias"
    return "Slice"


def _advanced_spec(adv, geom, x):
    """Builds the spec of the advanced part; None when the key is basic only."""
    if not adv:
        return None
    positions, tensors, dims = [], [], []
    dev = x._c
    for pos, t, in_dim in adv:
        if isinstance(t, str):
            # False (or a 0-d False mask) selects nothing from a new size-1 dim; True selects it.
            if t == "false" or (t == "mask0" and not builtins.bool(_wrap(in_dim._c).item())):
                t = _C.full([0], 0, _INT64, dev.device_type, dev.device_index)
            else:
                t = _C.full([1], 0, _INT64, dev.device_type, dev.device_index)
            in_dim = -1
        positions.append(pos)
        tensors.append(t)
        dims.append(in_dim)
    bshape = _broadcast_shapes([t.shape for t in tensors])
    return _AdvancedSpec(geom, positions, tensors, dims, bshape)


def _broadcast_shapes(shapes, what="indexing"):
    n = builtins.max(len(s) for s in shapes)
    out = [1] * n
    for s in shapes:
        for i, v in enumerate(s):
            j = n - len(s) + i
            if v != 1:
                if out[j] != 1 and out[j] != v:
                    msg = ", ".join(str(list(s)) for s in shapes)
                    raise IndexError(f"shape mismatch: {what} tensors could not be broadcast together with shapes {msg}")
                out[j] = v
    return tuple(out)


def getitem(x, key):
    ops, adv = _parse_key(x, key)
    geom = _basic_geom(ops)
    if builtins.any(op[0] != "keep" for op in ops) or not adv:
        v = strided_view(x, geom, _view_name(ops))
    else:
        v = x
    spec = _advanced_spec(adv, None, v)
    if spec is None:
        return v
    return index_with_spec(v, spec)


def _value_tensor(value, x):
    if isinstance(value, Tensor):
        if value.device != x.device:
            value = value.to(x.device)
        return value
    if isinstance(value, numbers.Number):
        return _scalar_like(value, x)
    from ..creation import tensor
    return tensor(value, dtype=x.dtype, device=x.device)


def setitem(x, key, value):
    from .elementwise import _check_inplace
    _check_inplace(x)
    ops, adv = _parse_key(x, key)
    geom = _basic_geom(ops)
    spec = _advanced_spec(adv, geom, x) or _AdvancedSpec(geom, [], [], [], ())
    value = _value_tensor(value, x)
    needs_grad = _state.enabled and (x._requires_grad or value._requires_grad)
    if needs_grad:
        if x._base is not None:
            raise RuntimeError("ember does not support __setitem__ with autograd on a view (the gradient would have "
                               "to flow into the view's base); index the base tensor directly or clone() the view")
        if not x.dtype.is_floating_point:
            raise RuntimeError("__setitem__: a value that requires grad cannot be written into an integer tensor")
        out = _Scatter.apply(x, value, spec, False)
        x._c.copy_(out._c)
        x.grad_fn, x._output_nr, x._requires_grad = out.grad_fn, 0, True
        return
    if not spec.indices:
        view = x._c.as_strided(*geom(x._c.shape, x._c.strides, x._c.offset))
        _check_value_shape(value._c.shape, view.shape)
        view.copy_(value._c)
        return
    view, offs = spec.plan(x._c)
    _C.index_scatter_(view, offs, value._c, False)


def _check_value_shape(vshape, shape):
    ok = len(vshape) <= len(shape) and builtins.all(
        v == s or v == 1 for v, s in zip(reversed(vshape), reversed(shape)))
    if not ok:
        raise RuntimeError(f"shape mismatch: value tensor of shape {list(vshape)} cannot be broadcast to indexing "
                           f"result of shape {list(shape)}")


def index_put(input, indices, values, accumulate=False):
    return _index_put(input, indices, values, accumulate, inplace=False)


def index_put_(input, indices, values, accumulate=False):
    return _index_put(input, indices, values, accumulate, inplace=True)


def _index_put(x, indices, values, accumulate, inplace):
    ops, adv = _parse_key(x, tuple(indices))
    geom = _basic_geom(ops)
    spec = _advanced_spec(adv, geom, x) or _AdvancedSpec(geom, [], [], [], ())
    values = _value_tensor(values, x)
    if inplace:
        from .elementwise import _check_inplace
        _check_inplace(x)
        if _state.enabled and (x._requires_grad or values._requires_grad):
            if x._base is not None:
                raise RuntimeError("ember does not support index_put_ with autograd on a view")
            out = _Scatter.apply(x, values, spec, accumulate)
            x._c.copy_(out._c)
            x.grad_fn, x._output_nr, x._requires_grad = out.grad_fn, 0, True
            return x
        view, offs = spec.plan(x._c)
        _C.index_scatter_(view, offs, values._c, accumulate)
        return x
    return scatter_with_spec(x, values, spec, accumulate)


# ---- gather / scatter ----------------------------------------------------------------------------
def _check_index_dtype(index, name):
    if not isinstance(index, Tensor):
        raise TypeError(f"{name}(): argument 'index' must be Tensor, not {type(index).__name__}")
    if index.dtype is not dt.int64:
        raise RuntimeError(f"{name}(): Expected dtype int64 for index, got {index.dtype.name}")


def _check_gather_shapes(x, dim, index, name, other=None):
    if index._c.ndim != builtins.max(x._c.ndim, 0) and not (x._c.ndim == 0 and index._c.ndim <= 1):
        raise RuntimeError(f"Index tensor must have the same number of dimensions as {'self' if other is None else 'input'}"
                           f" tensor")
    for d in range(index._c.ndim):
        if d == dim:
            continue
        if x._c.ndim and index._c.shape[d] > x._c.shape[d]:
            raise RuntimeError(f"Size does not match at dimension {d} expected index {list(index._c.shape)} to be "
                               f"smaller than self {list(x._c.shape)} apart from dimension {dim}")
        if other is not None and index._c.shape[d] > other._c.shape[d]:
            raise RuntimeError(f"Size does not match at dimension {d} expected index {list(index._c.shape)} to be "
                               f"smaller than src {list(other._c.shape)} apart from dimension {dim}")


def gather(input, dim, index, *, sparse_grad=False):
    _check_index_dtype(index, "gather")
    d = _wrap_dim(dim, input._c.ndim)
    _check_gather_shapes(input, d, index, "gather")
    return index_with_spec(input, _GatherSpec(d, index._c))


def _src_restricted(src, index):
    """src[:index.shape] (a view): scatter reads only the part of src that index covers."""
    ishape = index._c.shape
    if src._c.shape == ishape:
        return src
    return strided_view(src, lambda shape, strides, off: (ishape, strides, off), "Slice")


def _scatter_impl(input, dim, index, src, value, reduce, accumulate, name, inplace):
    _check_index_dtype(index, name)
    if reduce is not None:
        raise NotImplementedError(f"{name}(): reduce={reduce!r} is not supported by ember yet")
    d = _wrap_dim(dim, input._c.ndim)
    if src is None:
        if isinstance(value, Tensor):
            src = value
        else:
            src = _scalar_like(value, input)
        values = src
        _check_gather_shapes(input, d, index, name)
    else:
        if not isinstance(src, Tensor):
            src = _scalar_like(src, input)
            values = src
            _check_gather_shapes(input, d, index, name)
        else:
            if src.dtype != input.dtype:
                raise RuntimeError(f"{name}(): Expected self.dtype to be equal to src.dtype")
            _check_gather_shapes(input, d, index, name, other=src if src._c.ndim else None)
            values = _src_restricted(src, index) if src._c.ndim else src
    spec = _GatherSpec(d, index._c)
    if inplace:
        from .elementwise import _check_inplace
        _check_inplace(input)
        if _state.enabled and (input._requires_grad or values._requires_grad):
            if input._base is not None:
                raise RuntimeError(f"ember does not support {name}_ with autograd on a view")
            out = _Scatter.apply(input, values, spec, accumulate)
            input._c.copy_(out._c)
            input.grad_fn, input._output_nr, input._requires_grad = out.grad_fn, 0, True
            return input
        view, offs = spec.plan(input._c)
        _C.index_scatter_(view, offs, values._c, accumulate)
        return input
    return scatter_with_spec(input, values, spec, accumulate)


def scatter(input, dim, index, src=None, value=None, *, reduce=None):
    return _scatter_impl(input, dim, index, src, value, reduce, False, "scatter", False)


def scatter_(input, dim, index, src=None, value=None, *, reduce=None):
    return _scatter_impl(input, dim, index, src, value, reduce, False, "scatter", True)


def scatter_add(input, dim, index, src):
    return _scatter_impl(input, dim, index, src, None, None, True, "scatter_add", False)


def scatter_add_(input, dim, index, src):
    return _scatter_impl(input, dim, index, src, None, None, True, "scatter_add", True)


def _check_select_index(index, name):
    if not isinstance(index, Tensor):
        raise TypeError(f"{name}(): argument 'index' must be Tensor, not {type(index).__name__}")
    if index.dtype not in (dt.int64, dt.int32):
        raise RuntimeError(f"{name}(): Expected dtype int32/int64 for index, got {index.dtype.name}")
    if index._c.ndim > 1:
        raise IndexError(f"{name}(): Index is supposed to be a vector")


def index_select(input, dim, index):
    _check_select_index(index, "index_select")
    d = _wrap_dim(dim, input._c.ndim)
    out = index_with_spec(input, _SelectSpec(d, index._c))
    if input._c.ndim == 0 and index._c.ndim == 0:
        from .shape import reshape
        out = reshape(out, ())
    return out


def index_add(input, dim, index, source, *, alpha=1):
    return _index_add(input, dim, index, source, alpha, False)


def index_add_(input, dim, index, source, *, alpha=1):
    return _index_add(input, dim, index, source, alpha, True)


def _index_add(input, dim, index, source, alpha, inplace):
    _check_select_index(index, "index_add")
    d = _wrap_dim(dim, input._c.ndim)
    n = index._c.shape[0] if index._c.ndim else 1
    expect = list(input._c.shape)
    if expect:
        expect[d] = n
    if list(source._c.shape) != expect and not (source._c.ndim == 0 and not expect):
        raise RuntimeError(f"index_add_(): Expected source of shape {expect}, got {list(source._c.shape)}")
    if source.dtype is not input.dtype:
        # The scatter would cast silently (float64 -> float32 loses precision); torch refuses.
        raise RuntimeError(f"index_add_(): self ({input.dtype.name}) and source ({source.dtype.name}) must have "
                           "the same scalar type")
    if alpha != 1:
        source = source * alpha
    spec = _SelectSpec(d, index._c)
    if inplace:
        from .elementwise import _check_inplace
        _check_inplace(input)
        if _state.enabled and (input._requires_grad or source._requires_grad):
            if input._base is not None:
                raise RuntimeError("ember does not support index_add_ with autograd on a view")
            out = _Scatter.apply(input, source, spec, True)
            input._c.copy_(out._c)
            input.grad_fn, input._output_nr, input._requires_grad = out.grad_fn, 0, True
            return input
        view, offs = spec.plan(input._c)
        _C.index_scatter_(view, offs, source._c, True)
        return input
    return scatter_with_spec(input, source, spec, True)


def take(input, index):
    from .shape import reshape
    if index.dtype is not dt.int64:
        raise RuntimeError("take(): Expected a long tensor for index")
    flat = reshape(input, (-1,))
    return reshape(index_with_spec(flat, _SelectSpec(0, reshape(index, (-1,))._c)), index._c.shape)


def put(input, index, source, accumulate=False):
    return _put(input, index, source, accumulate, False)


def put_(input, index, source, accumulate=False):
    return _put(input, index, source, accumulate, True)


def _put(input, index, source, accumulate, inplace):
    from .shape import reshape
    if index._c.numel != source._c.numel:
        raise RuntimeError(f"put_(): Expected source and index to have the same number of elements, but got "
                           f"source.numel() = {source._c.numel}, index.numel() = {index._c.numel}")
    spec = _SelectSpec(0, reshape(index, (-1,))._c)
    src = reshape(source, (-1,))
    if inplace:
        from .elementwise import _check_inplace
        _check_inplace(input)
        if _state.enabled and (input._requires_grad or source._requires_grad):
            raise RuntimeError("ember does not support put_ with autograd; use put()")
        if not input._c.is_contiguous():
            raise RuntimeError("put_(): ember needs a contiguous input")
        flat = input._c.as_strided((input._c.numel,), (1,), input._c.offset)
        view, offs = spec.plan(flat)
        _C.index_scatter_(view, offs, src._c, accumulate)
        return input
    flat = reshape(input, (-1,))
    return reshape(scatter_with_spec(flat, src, spec, accumulate), input._c.shape)


# ---- masks -------------------------------------------------------------------------------------
def _mask_check(mask, name):
    if not isinstance(mask, Tensor):
        raise TypeError(f"{name}(): argument 'mask' must be Tensor, not {type(mask).__name__}")
    if mask.dtype is not dt.bool:
        raise RuntimeError(f"{name}: expected BoolTensor for mask, got {mask.dtype.name}")


def masked_fill(input, mask, value):
    _mask_check(mask, "masked_fill")
    from .elementwise import where
    if isinstance(value, Tensor):
        if value._c.ndim != 0:
            raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value._c.ndim} dimension(s).")
        if value.dtype != input.dtype:
            value = value.to(input.dtype)
    else:
        value = _scalar_like(value, input)
    out = where(mask, value, input)
    if out._c.shape != input._c.shape:
        raise RuntimeError(f"masked_fill: mask of shape {list(mask.shape)} cannot be broadcast to the input's shape "
                           f"{list(input.shape)}")
    return out


def masked_fill_(input, mask, value):
    from .elementwise import _check_inplace
    _check_inplace(input)
    out = masked_fill(input, mask, value)
    if out.grad_fn is not None:
        if input._base is not None:
            raise RuntimeError("ember does not support masked_fill_ with autograd on a view")
        input._c.copy_(out._c)
        input.grad_fn, input._output_nr, input._requires_grad = out.grad_fn, 0, True
    else:
        input._c.copy_(out._c)
    return input


def masked_select(input, mask):
    _mask_check(mask, "masked_select")
    from .shape import expand
    shape = _broadcast_shapes([input._c.shape, mask._c.shape], "masked_select")
    x = expand(input, shape) if input._c.shape != shape else input
    m = expand(mask, shape) if mask._c.shape != shape else mask
    if x._c.ndim == 0:
        from .shape import reshape
        x, m = reshape(x, (1,)), reshape(m, (1,))
    return getitem(x, m)


def masked_scatter(input, mask, source):
    """Copies consecutive elements of `source` into `input` where `mask` is True (row-major order)."""
    if mask.dtype is not dt.bool:
        raise TypeError(f"masked_scatter_ only supports boolean masks, but got mask with dtype {mask.dtype}")
    mask = mask.expand(input.shape) if tuple(mask.shape) != tuple(input.shape) else mask
    n = int(mask.sum().item())
    if source.numel() < n:
        raise ValueError(f"masked_scatter: expected source to have at least {n} elements (the number of True "
                         f"entries in the mask), but it has {source.numel()}")
    out = input.clone()
    out[mask] = source.reshape(-1)[:n]
    return out


def nonzero(input, *, as_tuple=False):
    nz = _C.nonzero(input._c)
    if not as_tuple:
        return _wrap(nz)
    if input._c.ndim == 0:
        return (_wrap(nz.as_strided((nz.shape[0],), (1,), nz.offset)),)
    return tuple(_wrap(nz.as_strided((nz.shape[0],), (nz.strides[0],), nz.offset + j * nz.strides[1]))
                 for j in range(input._c.ndim))


def argwhere(input):
    return nonzero(input)


def one_hot(tensor, num_classes=-1):
    if tensor.dtype is not dt.int64:
        raise RuntimeError(f"one_hot is only applicable to index tensor of type LongTensor, got {tensor.dtype.name}.")
    from ..creation import zeros
    n = tensor._c.numel
    if num_classes == -1:
        if n == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = builtins.int(np.asarray(tensor).max()) + 1
    if n:
        a = np.asarray(tensor)
        lo, hi = builtins.int(a.min()), builtins.int(a.max())
        if lo < 0:
            raise RuntimeError("Class values must be non-negative.")
        if hi >= num_classes:
            raise RuntimeError("Class values must be smaller than num_classes.")
    out = zeros(tuple(tensor._c.shape) + (num_classes,), dtype=dt.int64, device=tensor.device)
    from .shape import unsqueeze
    idx = unsqueeze(tensor, -1)
    view, offs = _GatherSpec(out._c.ndim - 1, idx._c).plan(out._c)
    _C.index_scatter_(view, offs, _scalar_like(1, out)._c, False)
    return out
