"""Copying shape ops (cat, stack, flip, roll, repeat, tile, tril, triu, pad) and their gradients."""
from __future__ import annotations

import builtins

from .. import _C
from ..autograd import Function, _state
from ..tensor import Tensor
from .shape import _wrap_dim, narrow, reshape, unsqueeze

_wrap = Tensor._wrap


def _needs_grad(tensors):
    return _state.enabled and builtins.any(t._requires_grad for t in tensors)


def _skipped(t):
    return t._c.ndim == 1 and t._c.shape[0] == 0


class Cat(Function):
    @staticmethod
    def forward(ctx, dim, *tensors):
        out = _wrap(_C.cat([t._c for t in tensors], dim))
        ref = next((t for t in tensors if not _skipped(t)), None)
        ctx.dim = _wrap_dim(dim, ref._c.ndim) if ref is not None else 0
        ctx.sizes = [None if _skipped(t) else t._c.shape[ctx.dim] for t in tensors]
        ctx.dtypes = [t.dtype for t in tensors]
        return out

    @staticmethod
    def backward(ctx, g):
        grads, start = [None], 0
        for s, dtype, need in zip(ctx.sizes, ctx.dtypes, ctx.needs_input_grad[1:]):
            if s is None:
                grads.append(None)
                continue
            if need:
                gi = narrow(g, ctx.dim, start, s)
                grads.append(gi if gi.dtype == dtype else gi.to(dtype))
            else:
                grads.append(None)
            start += s
        return tuple(grads)


def _tensor_list(tensors, name):
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{name}(): argument 'tensors' must be tuple of Tensors, not {type(tensors).__name__}")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}(): expected a sequence of Tensors, but found {type(t).__name__}")
    return tuple(tensors)


def cat(tensors, dim=0, *, out=None):
    tensors = _tensor_list(tensors, "cat")
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    if _needs_grad(tensors):
        res = Cat.apply(dim, *tensors)
    else:
        res = _wrap(_C.cat([t._c for t in tensors], dim))
    if out is not None:
        out._c.copy_(res._c)
        return out
    return res


concat = concatenate = cat


def stack(tensors, dim=0, *, out=None):
    tensors = _tensor_list(tensors, "stack")
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape0 = tensors[0]._c.shape
    for i, t in enumerate(tensors):
        if t._c.shape != shape0:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(shape0)} at entry 0 and "
                               f"{list(t._c.shape)} at entry {i}")
    n = len(shape0) + 1
    if not (-n <= dim < n):
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    d = dim % n
    return cat([unsqueeze(t, d) for t in tensors], d, out=out)


def hstack(tensors):
    tensors = _tensor_list(tensors, "hstack")
    ts = [reshape(t, (1,)) if t._c.ndim == 0 else t for t in tensors]
    return cat(ts, 0 if ts[0]._c.ndim == 1 else 1)


def vstack(tensors):
    tensors = _tensor_list(tensors, "vstack")
    ts = [reshape(t, (1, -1)) if t._c.ndim < 2 else t for t in tensors]
    return cat(ts, 0)


class Flip(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return _wrap(_C.flip(x._c, dims))

    @staticmethod
    def backward(ctx, g):
        return flip(g, ctx.dims), None


def _dims_arg(dims):
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = dims[0]
    return [builtins.int(d) for d in dims]


def flip(input, *dims):
    dims = _dims_arg(dims)
    if _state.enabled and input._requires_grad:
        return Flip.apply(input, dims)
    return _wrap(_C.flip(input._c, dims))


def fliplr(input):
    if input._c.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return flip(input, [1])


def flipud(input):
    if input._c.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return flip(input, [0])


class Roll(Function):
    @staticmethod
    def forward(ctx, x, shifts, dims):
        ctx.shifts, ctx.dims = shifts, dims
        return _wrap(_C.roll(x._c, shifts, dims))

    @staticmethod
    def backward(ctx, g):
        return roll(g, [-s for s in ctx.shifts], ctx.dims or None), None, None


def roll(input, shifts, dims=None):
    shifts = [shifts] if isinstance(shifts, builtins.int) else [builtins.int(s) for s in shifts]
    dims = [] if dims is None else ([dims] if isinstance(dims, builtins.int) else [builtins.int(d) for d in dims])
    if not dims and len(shifts) != 1:
        raise RuntimeError(f"roll: shifts must have one element when dims is not given, got {len(shifts)}")
    if dims and len(shifts) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
    for d in dims:
        _wrap_dim(d, input._c.ndim)
    if _state.enabled and input._requires_grad:
        return Roll.apply(input, shifts, dims)
    return _wrap(_C.roll(input._c, shifts, dims))


class Repeat(Function):
    @staticmethod
    def forward(ctx, x, reps):
        ctx.in_shape, ctx.reps = x._c.shape, reps
        return _wrap(_C.repeat(x._c, reps))

    @staticmethod
    def backward(ctx, g):
        # Sum the gradient over the repeated blocks: view g as [r0, s0, r1, s1, ...].
        from .reduce import sum as _sum
        reps, shape = ctx.reps, ctx.in_shape
        lead = len(reps) - len(shape)
        sizes = [1] * lead + list(shape)
        blocks = []
        for r, s in zip(reps, sizes):
            blocks += [r, s]
        gs = _sum(reshape(g, tuple(blocks)), list(range(0, len(blocks), 2)))
        return reshape(gs, shape), None


def repeat(input, *sizes):
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = sizes[0]
    reps = [builtins.int(s) for s in sizes]
    if len(reps) < input._c.ndim:
        raise RuntimeError(f"Number of dimensions of repeat dims can not be smaller than number of dimensions of "
                           f"tensor (repeats {reps} for a tensor of shape {list(input._c.shape)})")
    if _state.enabled and input._requires_grad:
        return Repeat.apply(input, reps)
    return _wrap(_C.repeat(input._c, reps))


def tile(input, dims):
    if isinstance(dims, builtins.int):
        dims = (dims,)
    reps = [1] * builtins.max(input._c.ndim - len(dims), 0) + [builtins.int(d) for d in dims]
    return repeat(input, reps)


class TrilTriu(Function):
    @staticmethod
    def forward(ctx, x, k, upper):
        ctx.k, ctx.upper = k, upper
        return _wrap(_C.tril_triu(x._c, k, upper))

    @staticmethod
    def backward(ctx, g):
        return (triu if ctx.upper else tril)(g, ctx.k), None, None


def _tril_triu(input, diagonal, upper):
    if input._c.ndim < 2:
        raise RuntimeError(f"{'triu' if upper else 'tril'}: input tensor must have at least 2 dimensions, got "
                           f"shape {list(input._c.shape)}")
    if _state.enabled and input._requires_grad:
        return TrilTriu.apply(input, diagonal, upper)
    return _wrap(_C.tril_triu(input._c, diagonal, upper))


def tril(input, diagonal=0):
    return _tril_triu(input, diagonal, False)


def triu(input, diagonal=0):
    return _tril_triu(input, diagonal, True)


def tril_(input, diagonal=0):
    return _inplace_result(input, tril(input, diagonal))


def triu_(input, diagonal=0):
    return _inplace_result(input, triu(input, diagonal))


def _inplace_result(input, out):
    from .elementwise import _check_inplace
    _check_inplace(input)
    if out.grad_fn is not None:
        if input._base is not None:
            raise RuntimeError("ember does not support this in-place op with autograd on a view")
        input._c.copy_(out._c)
        input.grad_fn, input._output_nr, input._requires_grad = out.grad_fn, 0, True
    else:
        input._c.copy_(out._c)
    return input


# ---- pad ---------------------------------------------------------------------------------------
class PadConstant(Function):
    _backward_name = "ConstantPadNdBackward0"

    @staticmethod
    def forward(ctx, x, pad, value):
        ctx.pad = pad
        return _wrap(_pad_constant(x._c, pad, value))

    @staticmethod
    def backward(ctx, g):
        # The gradient of padding by p is cropping by p, i.e. padding by -p with zeros.
        return pad(g, [-p for p in ctx.pad]), None, None


def _pad_constant(c, pads, value):
    shape = list(c.shape)
    n = len(pads) // 2
    out_shape = list(shape)
    src_shape, src_off, dst_off = list(shape), c.offset, 0
    for i in range(n):
        d = len(shape) - 1 - i
        lo, hi = pads[2 * i], pads[2 * i + 1]
        out_shape[d] = shape[d] + lo + hi
        if out_shape[d] < 0:
            raise RuntimeError(f"The input size {shape[d]}, plus negative padding {lo} and {hi} resulted in a negative "
                               f"output size, which is invalid. Check dimension {d} of your input.")
    out = _C.full(out_shape, value, c.dtype, c.device_type, c.device_index)
    ostr = out.strides
    for i in range(n):
        d = len(shape) - 1 - i
        lo, hi = pads[2 * i], pads[2 * i + 1]
        crop_lo, crop_hi = builtins.max(-lo, 0), builtins.max(-hi, 0)
        src_shape[d] = builtins.max(shape[d] - crop_lo - crop_hi, 0)
        src_off += crop_lo * c.strides[d]
        dst_off += builtins.max(lo, 0) * ostr[d]
    if builtins.all(s > 0 for s in src_shape):
        out.as_strided(tuple(src_shape), ostr, dst_off).copy_(c.as_strided(tuple(src_shape), c.strides, src_off))
    return out


def _pad_indices(n, lo, hi, mode, device):
    from ..creation import tensor
    if mode == "reflect":
        if lo >= n or hi >= n:
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding input dimension, but "
                               f"got: padding ({lo}, {hi}) at dimension of input of size {n}")
        idx = list(range(lo, 0, -1)) + list(range(n)) + list(range(n - 2, n - 2 - hi, -1))
    elif mode == "replicate":
        if n == 0:
            raise RuntimeError("padding: input has a zero-size dimension")
        idx = [0] * lo + list(range(n)) + [n - 1] * hi
    else:  # circular
        if lo > n or hi > n:
            raise RuntimeError("Padding value causes wrapping around more than once.")
        idx = [(i % n) for i in range(-lo, n + hi)]
    return tensor(idx, device=device)


def pad(input, pad, mode="constant", value=None):
    pad = [builtins.int(p) for p in pad]
    if len(pad) % 2:
        raise RuntimeError(f"Padding length must be divisible by 2, got pad={pad}")
    if len(pad) // 2 > input._c.ndim:
        raise RuntimeError("Padding length should be less than or equal to two times the input dimension but got "
                           f"padding length {len(pad)} and input of dimension {input._c.ndim}")
    if mode == "constant":
        v = 0 if value is None else value
        if _state.enabled and input._requires_grad:
            return PadConstant.apply(input, pad, v)
        return _wrap(_pad_constant(input._c, pad, v))
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value is not None and value != 0:
        raise ValueError(f"Padding mode \"{mode}\" doesn't take in value argument.")
    # Gather along each padded dim; the gradient (index_add) accumulates into the borders.
    from .indexing import index_select
    out = input
    for i in range(len(pad) // 2):
        d = input._c.ndim - 1 - i
        lo, hi = pad[2 * i], pad[2 * i + 1]
        if lo < 0 or hi < 0:
            raise NotImplementedError(f"ember's {mode} pad does not support negative padding")
        if lo == 0 and hi == 0:
            continue
        out = index_select(out, d, _pad_indices(input._c.shape[d], lo, hi, mode, input.device))
    return out
