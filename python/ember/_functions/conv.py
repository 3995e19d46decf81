"""Convolutions (conv1d/2d, conv_transpose1d/2d) and interpolate as autograd Functions.

Three Functions close the convolution family under differentiation: ``Conv2d`` (y = x * w + b),
``ConvInputGrad`` (dx from dy and w; also conv_transpose2d's forward) and ``ConvWeightGrad``
(dw from dy and x). Each one's backward is written with the three of them, so gradients of any
order exist; without ``create_graph`` the backward of conv2d is one ``_C.conv2d_backward`` call.
1-D convolutions are 2-D ones over planes of height 1. Options travel to C++ as one tuple
(sH, sW, padT, padB, padL, padR, dilH, dilW, groups).
"""
from __future__ import annotations

import builtins
import math
import numbers

from .. import _C
from ..autograd import Function, _state
from ..tensor import Tensor
from .reduce import sum as _sum
from .shape import narrow, squeeze, unsqueeze

_wrap = Tensor._wrap


def _opt(t):
    return None if t is None else t._c


def _needs_grad(*ts):
    return _state.enabled and builtins.any(t is not None and t._requires_grad for t in ts)


def _check_tensor(x, name, arg, optional=False):
    if optional and x is None:
        return
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument '{arg}' must be Tensor, not {type(x).__name__}")


def _tuple(v, n, name):
    if isinstance(v, numbers.Integral):
        return (builtins.int(v),) * n
    try:
        v = tuple(v)
    except TypeError:
        raise TypeError(f"{name} must be an int or a tuple of {n} ints, got {type(v).__name__}") from None
    if len(v) == 1:
        v = v * n
    if len(v) != n or not builtins.all(isinstance(e, numbers.Integral) for e in v):
        raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {v}")
    return tuple(builtins.int(e) for e in v)


def _bias_dims(t):
    return (0, 2, 3) if t.dim() == 4 else (1, 2)


def _crop(t, hw):
    """t's last two dims cut to hw (conv of a conv_transpose2d output with output_padding >= stride
    yields a row more than the transposed input had)."""
    if tuple(t.shape[-2:]) == tuple(hw):
        return t
    return narrow(narrow(t, -2, 0, hw[0]), -1, 0, hw[1])


# ---- the three Functions --------------------------------------------------------------------------
class Conv2d(Function):
    _backward_name = "ConvolutionBackward0"

    @staticmethod
    def forward(ctx, x, w, b, p):
        ctx.save_for_backward(x, w)
        ctx.p = p
        return _wrap(_C.conv2d(x._c, w._c, _opt(b), p))

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nx, nw, nb = ctx.needs_input_grad[:3]
        if _state.enabled:  # create_graph: the gradients are themselves differentiable conv ops
            gx = conv_input_grad(g, w, None, ctx.p, x.shape[-2:]) if nx else None
            gw = conv_weight_grad(g, x, ctx.p, w.shape) if nw else None
            gb = _sum(g, _bias_dims(g)) if nb else None
            return gx, gw, gb, None
        gx, gw, gb = _C.conv2d_backward(g._c, x._c, w._c, ctx.p, nx, nw, nb)
        return (None if gx is None else _wrap(gx), None if gw is None else _wrap(gw),
                None if gb is None else _wrap(gb), None)


class ConvInputGrad(Function):
    """dx of conv2d (x of spatial size out_hw) from dy and w, plus a per-channel bias: conv_transpose2d.
    With output_padding given, the C++ op checks it and computes out_hw itself."""

    _backward_name = "ConvolutionBackward0"

    @staticmethod
    def forward(ctx, dy, w, b, p, out_hw, output_padding=None):
        if output_padding is not None:
            y = _C.conv_transpose2d(dy._c, w._c, _opt(b), p, output_padding)
        else:
            y = _C.conv2d_backward_input(dy._c, w._c, _opt(b), p, tuple(out_hw))
        ctx.save_for_backward(dy, w)
        ctx.p = p
        return _wrap(y)

    @staticmethod
    def backward(ctx, g):
        dy, w = ctx.saved_tensors
        ndy, nw, nb = ctx.needs_input_grad[:3]
        gdy = _crop(conv2d_p(g, w, None, ctx.p), dy.shape[-2:]) if ndy else None
        gw = conv_weight_grad(dy, g, ctx.p, w.shape) if nw else None
        gb = _sum(g, _bias_dims(g)) if nb else None  # the bias lives on g's (the output's) channels
        return gdy, gw, gb, None, None, None


class ConvWeightGrad(Function):
    """dw of conv2d from dy and x. <G, dw(dy, x)> = <conv(x, G), dy> = <x, dx(dy, G)>."""

    _backward_name = "ConvolutionBackwardBackward0"

    @staticmethod
    def forward(ctx, dy, x, p, w_shape):
        ctx.save_for_backward(dy, x)
        ctx.p = p
        gw, _ = _C.conv2d_backward_weight(dy._c, x._c, tuple(w_shape), p, True, False)
        return _wrap(gw)

    @staticmethod
    def backward(ctx, G):
        dy, x = ctx.saved_tensors
        ndy, nx = ctx.needs_input_grad[:2]
        gdy = _crop(conv2d_p(x, G, None, ctx.p), dy.shape[-2:]) if ndy else None
        gx = conv_input_grad(dy, G, None, ctx.p, x.shape[-2:]) if nx else None
        return gdy, gx, None, None


def conv2d_p(x, w, b, p):
    if _needs_grad(x, w, b):
        return Conv2d.apply(x, w, b, p)
    return _wrap(_C.conv2d(x._c, w._c, _opt(b), p))


def conv_input_grad(dy, w, b, p, out_hw):
    if _needs_grad(dy, w, b):
        return ConvInputGrad.apply(dy, w, b, p, tuple(out_hw))
    return _wrap(_C.conv2d_backward_input(dy._c, w._c, _opt(b), p, tuple(out_hw)))


def conv_weight_grad(dy, x, p, w_shape):
    if _needs_grad(dy, x):
        return ConvWeightGrad.apply(dy, x, p, tuple(w_shape))
    return _wrap(_C.conv2d_backward_weight(dy._c, x._c, tuple(w_shape), p, True, False)[0])


# ---- public functions -----------------------------------------------------------------------------
def _padding(name, padding, stride, dilation, kernel):
    """(top, bottom, left, right) from an int, a tuple, 'valid' or 'same' (the extra row/column of an
    even kernel goes to the bottom/right, as torch)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding != "same":
            raise ValueError(f"Invalid padding string '{padding}', should be one of {{'valid', 'same'}}")
        if builtins.any(s != 1 for s in stride):
            raise ValueError("padding='same' is not supported for strided convolutions")
        out = []
        for d, k in zip(dilation, kernel):
            total = d * (k - 1)
            out += [total // 2, total - total // 2]
        return tuple(out)
    ph, pw = _tuple(padding, 2, "padding")
    return (ph, ph, pw, pw)


def _check_args(name, input, weight, bias):
    _check_tensor(input, name, "input")
    _check_tensor(weight, name, "weight")
    _check_tensor(bias, name, "bias", optional=True)


def _groups(groups):
    if not isinstance(groups, numbers.Integral):
        raise TypeError(f"groups must be an int, got {type(groups).__name__}")
    return builtins.int(groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """F.conv2d: input (N, C, H, W) or (C, H, W), weight (O, C/groups, kH, kW)."""
    _check_args("conv2d", input, weight, bias)
    stride = _tuple(stride, 2, "stride")
    dilation = _tuple(dilation, 2, "dilation")
    kernel = tuple(weight.shape[-2:]) if weight.dim() == 4 else (1, 1)
    p = stride + _padding("conv2d", padding, stride, dilation, kernel) + dilation + (_groups(groups),)
    return conv2d_p(input, weight, bias, p)


def _lift_1d(name, input, weight):
    if input.dim() not in (2, 3):
        raise ValueError(f"Expected 2D (unbatched) or 3D (batched) input to {name}, but got input of size: "
                         f"{list(input.shape)}")
    if weight.dim() != 3:
        raise ValueError(f"{name}: Expected 3-dimensional weight for 3-dimensional input {list(input.shape)}, but "
                         f"got {weight.dim()}-dimensional weight of size {list(weight.shape)} instead")
    return unsqueeze(input, -2), unsqueeze(weight, -2)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """F.conv1d: input (N, C, L) or (C, L), weight (O, C/groups, k); a conv2d over planes of height 1."""
    _check_args("conv1d", input, weight, bias)
    (s,) = _tuple(stride, 1, "stride")
    (d,) = _tuple(dilation, 1, "dilation")
    x2, w2 = _lift_1d("conv1d", input, weight)
    pad = _padding("conv1d", padding, (s,), (d,), (weight.shape[-1],))
    p = (1, s, 0, 0) + tuple(pad[:2]) + (1, d, _groups(groups))
    return squeeze(conv2d_p(x2, w2, bias, p), -2)


def _transpose_params(name, input, weight, stride, padding, output_padding, dilation, groups, n):
    if isinstance(padding, str):
        raise ValueError(f"{name}: padding must be an int or a tuple of ints, string padding is not supported")
    s = _tuple(stride, n, "stride")
    pad = _tuple(padding, n, "padding")
    op = _tuple(output_padding, n, "output_padding")
    d = _tuple(dilation, n, "dilation")
    return s, pad, op, d, _groups(groups)


def _conv_transpose(x, w, b, p, output_padding):
    if _needs_grad(x, w, b):
        return ConvInputGrad.apply(x, w, b, p, None, output_padding)
    return _wrap(_C.conv_transpose2d(x._c, w._c, _opt(b), p, output_padding))


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """F.conv_transpose2d: input (N, C_in, H, W) or 3-D, weight (C_in, C_out/groups, kH, kW)."""
    _check_args("conv_transpose2d", input, weight, bias)
    s, pad, op, d, g = _transpose_params("conv_transpose2d", input, weight, stride, padding, output_padding,
                                         dilation, groups, 2)
    p = s + (pad[0], pad[0], pad[1], pad[1]) + d + (g,)
    return _conv_transpose(input, weight, bias, p, op)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """F.conv_transpose1d: input (N, C_in, L) or (C_in, L), weight (C_in, C_out/groups, k)."""
    _check_args("conv_transpose1d", input, weight, bias)
    (s,), (pad,), (op,), (d,), g = _transpose_params("conv_transpose1d", input, weight, stride, padding,
                                                     output_padding, dilation, groups, 1)
    x2, w2 = _lift_1d("conv_transpose1d", input, weight)
    p = (1, s, 0, 0, pad, pad, 1, d, g)
    return squeeze(_conv_transpose(x2, w2, bias, p, (0, op)), -2)


# ---- interpolate ----------------------------------------------------------------------------------
_NEAREST, _BILINEAR, _NEAREST_EXACT = 0, 1, 2


class InterpolateBackward(Function):
    """The (linear) input gradient of interpolate; its own gradient is interpolate again."""

    @staticmethod
    def forward(ctx, g, mode, in_shape, sh, sw, ac):
        ctx.args = (mode, (g.shape[-2] if g.dim() == 4 else 1, g.shape[-1]), sh, sw, ac)
        return _wrap(_C.interpolate_backward(g._c, mode, tuple(in_shape), sh, sw, ac))

    @staticmethod
    def backward(ctx, gg):
        return _interp(gg, *ctx.args), None, None, None, None, None


class Interpolate(Function):
    _backward_name = "UpsampleBackward0"

    @staticmethod
    def forward(ctx, x, mode, size, sh, sw, ac):
        ctx.args = (mode, tuple(x.shape), sh, sw, ac)
        return _wrap(_C.interpolate(x._c, mode, size, sh, sw, ac))

    @staticmethod
    def backward(ctx, g):
        if _needs_grad(g):
            return InterpolateBackward.apply(g, *ctx.args), None, None, None, None, None
        return _wrap(_C.interpolate_backward(g._c, *ctx.args)), None, None, None, None, None


def _interp(x, mode, size, sh, sw, ac):
    if _needs_grad(x):
        return Interpolate.apply(x, mode, size, sh, sw, ac)
    return _wrap(_C.interpolate(x._c, mode, size, sh, sw, ac))


_MODES = {"nearest": _NEAREST, "nearest-exact": _NEAREST_EXACT, "bilinear": _BILINEAR, "linear": _BILINEAR}


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """F.interpolate for 3-D ('nearest', 'nearest-exact', 'linear') and 4-D ('nearest',
    'nearest-exact', 'bilinear') inputs, with torch's size / scale_factor rules. ember differs from
    torch in raising NotImplementedError for 'bicubic', 'area', 'trilinear', 5-D inputs and antialias."""
    _check_tensor(input, "interpolate", "input")
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes: "
                             "linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    dim = input.dim() - 2
    if dim < 1:
        raise ValueError(f"interpolate: expected an input with a batch and a channel dimension, got size "
                         f"{list(input.shape)}")
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    scale_factors = None
    if size is not None:
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError(f"Input and output must have the same number of spatial dimensions, but got input "
                                 f"with spatial dimensions of {list(input.shape[2:])} and output size of {size}. "
                                 "Please provide input tensor in (N, C, d1, d2, ...,dK) format and output size in "
                                 "(o1, o2, ...,oK) format.")
            output_size = [builtins.int(s) for s in size]
        else:
            output_size = [builtins.int(size)] * dim
    elif scale_factor is not None:
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != dim:
                raise ValueError(f"Input and scale_factor must have the same number of spatial dimensions, but got "
                                 f"input with spatial dimensions of {list(input.shape[2:])} and scale_factor of "
                                 f"shape {scale_factor}. Please provide input tensor in (N, C, d1, d2, ...,dK) "
                                 "format and scale_factor in (s1, s2, ...,sK) format.")
            scale_factors = [builtins.float(s) for s in scale_factor]
        else:
            scale_factors = [builtins.float(scale_factor)] * dim
        if not builtins.all(math.isfinite(s) for s in scale_factors):
            raise ValueError(f"interpolate: scale_factor must be finite, but got {scale_factor} for input of size "
                             f"{list(input.shape)}")
        output_size = [builtins.int(math.floor(builtins.float(input.shape[i + 2]) * scale_factors[i]))
                       for i in range(dim)]
        if recompute_scale_factor:
            scale_factors = None
    else:
        raise ValueError("either size or scale_factor should be defined")
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not implemented in ember")
    if mode not in _MODES:
        if mode in ("bicubic", "area", "trilinear"):
            raise NotImplementedError(f"interpolate: mode '{mode}' is not implemented in ember")
        raise ValueError(f"interpolate: unknown mode '{mode}'")
    if mode == "bilinear" and dim != 2:
        raise NotImplementedError(f"Got {input.dim()}D input, but bilinear mode needs 4D input")
    if mode == "linear" and dim != 1:
        raise NotImplementedError(f"Got {input.dim()}D input, but linear mode needs 3D input")
    if dim > 2:
        raise NotImplementedError(f"interpolate: {input.dim()}D inputs are not implemented in ember")
    if builtins.any(s <= 0 for s in output_size):
        raise ValueError(f"Input and output sizes should be greater than 0, but got input "
                         f"({', '.join(str(s) for s in input.shape[2:])}) output "
                         f"({', '.join(str(s) for s in output_size)})")
    code = _MODES[mode]
    ac = builtins.bool(align_corners) if code == _BILINEAR else False
    if dim == 1:
        size2, sh, sw = (1, output_size[0]), None, (scale_factors[0] if scale_factors else None)
    else:
        size2 = tuple(output_size)
        sh, sw = (scale_factors[0], scale_factors[1]) if scale_factors else (None, None)
    return _interp(input, code, size2, sh, sw, ac)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """F.upsample (deprecated in torch): interpolate."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """F.upsample_bilinear: bilinear with align_corners=True, as torch."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
