"""ember.nn.functional: CNN building blocks with torch's names, signatures and defaults (NCHW).

Softmax, the fused cross-entropy, mse_loss, normalisation, pooling and activations call their own
C++ forward and backward kernels (csrc/ops/{softmax,loss,norm,pool,activation}.cpp); dropout and
the other elementwise losses are composed from Tensor ops, so they are differentiable to any order.
Deliberate differences from torch: ``batch_norm(momentum=None)`` (the cumulative average) is not
supported, and gradients do not flow into probability targets of ``cross_entropy``.
"""
from __future__ import annotations

import builtins
import math
import numbers

from . import _C
from . import _dtype as dt
from . import creation
from .autograd import Function, _state
from .tensor import Tensor
from ._functions import elementwise as ew
from ._functions.copying import pad  # noqa: F401
from ._functions.indexing import one_hot  # noqa: F401
from ._functions.linalg import linear  # noqa: F401  (F.linear; activation="relu" fuses the ReLU)
from ._functions.conv import (conv1d, conv2d, conv_transpose1d, conv_transpose2d,  # noqa: F401
                              interpolate, upsample, upsample_bilinear, upsample_nearest)

__all__ = ["linear", "pad", "one_hot", "softmax", "log_softmax", "softmin", "cross_entropy", "nll_loss", "batch_norm", "layer_norm",
           "group_norm", "max_pool2d", "max_pool2d_with_indices", "avg_pool2d", "adaptive_avg_pool2d",
           "adaptive_max_pool2d", "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu",
           "celu", "gelu", "silu", "mish", "softplus", "hardtanh", "hardtanh_", "hardswish", "hardsigmoid",
           "prelu", "sigmoid", "tanh", "dropout", "dropout2d", "mse_loss", "l1_loss", "smooth_l1_loss",
           "huber_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div"]

_wrap = Tensor._wrap
_REDUCTIONS = {"none": 0, "mean": 1, "sum": 2}
_FLOAT_CODES = frozenset(d.code for d in dt._BY_CODE if d.is_floating_point)


def _opt(t):
    return None if t is None else t._c


def _needs_grad(*ts):
    return _state.enabled and builtins.any(t is not None and t._requires_grad for t in ts)


def _reduction_code(reduction, size_average=None, reduce=None):
    if size_average is not None or reduce is not None:  # torch's legacy arguments
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "none" if not reduce else ("mean" if size_average else "sum")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


# ---- softmax ------------------------------------------------------------------------------------
class _Softmax(Function):
    @staticmethod
    def forward(ctx, x, dim, log):
        y = _wrap(_C.softmax(x._c, dim, log))
        ctx.dim, ctx.log = dim, log
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        dim = ctx.dim
        if _state.enabled:  # create_graph: Tensor ops so that the result is differentiable again
            if ctx.log:
                return g - y.exp() * g.sum(dim, keepdim=True), None, None
            return y * (g - (g * y).sum(dim, keepdim=True)), None, None
        return _wrap(_C.softmax_backward(g._c, y._c, dim, ctx.log)), None, None


def _softmax_dim(ndim):
    return 0 if ndim in (0, 1, 3) else 1  # torch's legacy implicit dim


def _softmax(input, dim, dtype, log):
    if dtype is not None:
        input = input.to(dtype)
    if dim is None:
        dim = _softmax_dim(input.dim())
    if _needs_grad(input):
        return _Softmax.apply(input, dim, log)
    return _wrap(_C.softmax(input._c, dim, log))


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _softmax(input, dim, dtype, False)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _softmax(input, dim, dtype, True)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    return _softmax(-input, dim, dtype, False)


# ---- fused cross-entropy / nll_loss ------------------------------------------------------------
class _CrossEntropy(Function):
    @staticmethod
    def forward(ctx, input, target, weight, reduction, ignore_index, label_smoothing, log_probs):
        loss, lse, total = _C.cross_entropy(input._c, target._c, _opt(weight), reduction, ignore_index,
                                            label_smoothing, log_probs)
        ctx.args = (reduction, ignore_index, label_smoothing, log_probs, total)
        ctx.lse = lse
        ctx.save_for_backward(input, target, weight)
        return _wrap(loss)

    @staticmethod
    def backward(ctx, g):
        input, target, weight = ctx.saved_tensors
        reduction, ignore_index, label_smoothing, log_probs, total = ctx.args
        dinput = _C.cross_entropy_backward(g._c, input._c, target._c, _opt(weight), ctx.lse, reduction,
                                           ignore_index, label_smoothing, log_probs, total)
        return _wrap(dinput), None, None, None, None, None, None


def _xent(input, target, weight, reduction, ignore_index, label_smoothing, log_probs):
    code = _REDUCTIONS[reduction]
    if _needs_grad(input):
        return _CrossEntropy.apply(input, target, weight, code, ignore_index, label_smoothing, log_probs)
    return _wrap(_C.cross_entropy(input._c, target._c, _opt(weight), code, ignore_index, label_smoothing,
                                  log_probs)[0])


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Fused log_softmax + nll: never materialises the probabilities; class dim is 1."""
    reduction = _reduction_code(reduction, size_average, reduce)
    return _xent(input, target, weight, reduction, ignore_index, builtins.float(label_smoothing), False)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    reduction = _reduction_code(reduction, size_average, reduce)
    return _xent(input, target, weight, reduction, ignore_index, 0.0, True)


# ---- normalisation ------------------------------------------------------------------------------
class _BatchNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps, relu=False):
        y, mean, var = _C.batch_norm(x._c, _opt(running_mean), _opt(running_var), _opt(weight), _opt(bias),
                                     training, momentum, eps, relu)
        ctx.stats = (mean, var, training, eps, relu)
        # With the fused ReLU the backward recomputes where the output was positive from x, the
        # affine parameters and the statistics, so it keeps no copy of the output.
        ctx.save_for_backward(x, weight, bias if relu else None)
        return _wrap(y)

    @staticmethod
    def backward(ctx, g):
        x, weight, bias = ctx.saved_tensors
        mean, var, training, eps, relu = ctx.stats
        n = ctx.needs_input_grad
        dx, dw, db = _C.batch_norm_backward(g._c, x._c, _opt(weight), mean, var, training, eps, n[0], n[1], n[2],
                                            _opt(bias), relu)
        w = lambda c: None if c is None else _wrap(c)  # noqa: E731
        return w(dx), w(dw), w(db), None, None, None, None, None, None


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps, False)


def _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps, relu):
    """batch_norm, followed by a ReLU in the same kernel pass when relu is True (ember-only: what
    nn.Sequential runs for a BatchNorm directly followed by a ReLU; the values are those of the two)."""
    if momentum is None:
        raise NotImplementedError("batch_norm: momentum=None (cumulative moving average) is not supported")
    momentum, eps = builtins.float(momentum), builtins.float(eps)
    if not eps >= 0:
        raise ValueError(f"batch_norm eps must be non-negative, but got {eps}")
    if _needs_grad(input, weight, bias):
        return _BatchNorm.apply(input, weight, bias, running_mean, running_var, training, momentum, eps, relu)
    return _wrap(_C.batch_norm(input._c, _opt(running_mean), _opt(running_var), _opt(weight), _opt(bias),
                               training, momentum, eps, relu)[0])


class _LayerNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, normalized_shape, eps):
        y, mean, rstd = _C.layer_norm(x._c, normalized_shape, _opt(weight), _opt(bias), eps)
        ctx.stats = (mean, rstd, normalized_shape)
        ctx.save_for_backward(x, weight)
        return _wrap(y)

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        mean, rstd, ns = ctx.stats
        n = ctx.needs_input_grad
        dx, dw, db = _C.layer_norm_backward(g._c, x._c, ns, _opt(weight), mean, rstd, n[0], n[1], n[2])
        w = lambda c: None if c is None else _wrap(c)  # noqa: E731
        return w(dx), w(dw), w(db), None, None


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (normalized_shape,)
    ns = [builtins.int(s) for s in normalized_shape]
    if _needs_grad(input, weight, bias):
        return _LayerNorm.apply(input, weight, bias, ns, builtins.float(eps))
    return _wrap(_C.layer_norm(input._c, ns, _opt(weight), _opt(bias), builtins.float(eps))[0])


def _channel_view(t, ndim):
    """A (C,) parameter viewed as (1, C, 1, ...) to broadcast over an (N, C, ...) input."""
    return t.reshape((1, t.numel()) + (1,) * (ndim - 2))


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """layer_norm over (N, G, C/G * spatial) rows, then the per-channel affine."""
    if input.dim() < 2:
        raise ValueError(f"Expected at least 2 dimensions for input tensor but received {input.dim()}")
    n, c = input.shape[0], input.shape[1]
    if num_groups <= 0 or c % num_groups != 0:
        raise ValueError(f"Expected number of channels in input to be divisible by num_groups, but got input of "
                         f"shape {list(input.shape)} and num_groups={num_groups}")
    rows = input.reshape(n, num_groups, -1)
    y = layer_norm(rows, (rows.shape[-1],), eps=eps).reshape(tuple(input.shape))
    if weight is not None:
        y = y * _channel_view(weight, input.dim())
    if bias is not None:
        y = y + _channel_view(bias, input.dim())
    return y


# ---- pooling ------------------------------------------------------------------------------------
_MAX, _AVG, _ADAPTIVE_AVG, _ADAPTIVE_MAX = range(4)


def _pair(v, name="kernel_size"):
    if isinstance(v, numbers.Integral):
        return (builtins.int(v), builtins.int(v))
    v = tuple(v)
    if len(v) == 1:
        return (builtins.int(v[0]), builtins.int(v[0]))
    if len(v) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {v}")
    return (builtins.int(v[0]), builtins.int(v[1]))


class _Pool2d(Function):
    @staticmethod
    def forward(ctx, x, args):
        y, idx = _C.pool2d(args[0], x._c, *args[1:], True)
        ctx.args, ctx.x, ctx.idx = args, x._c, idx
        if idx is None:
            return _wrap(y)
        idx = _wrap(idx)
        ctx.mark_non_differentiable(idx)
        return _wrap(y), idx

    @staticmethod
    def backward(ctx, g, *_):
        a = ctx.args
        return _wrap(_C.pool2d_backward(a[0], g._c, ctx.x, ctx.idx, *a[1:])), None


def _pool(x, args, return_indices):
    if _needs_grad(x):
        out = _Pool2d.apply(x, args)
    else:
        y, idx = _C.pool2d(args[0], x._c, *args[1:], builtins.bool(return_indices))
        out = _wrap(y) if idx is None else (_wrap(y), _wrap(idx))
    if isinstance(out, tuple) and not return_indices:
        return out[0]
    return out


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    k = _pair(kernel_size)
    s = k if stride is None or (not isinstance(stride, numbers.Integral) and len(stride) == 0) else _pair(stride)
    return _pool(input, (_MAX, k, s, _pair(padding), _pair(dilation), builtins.bool(ceil_mode), True, 0),
                 return_indices)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    k = _pair(kernel_size)
    s = k if stride is None or (not isinstance(stride, numbers.Integral) and len(stride) == 0) else _pair(stride)
    if divisor_override is not None and divisor_override == 0:
        raise ValueError("divisor must be not zero")
    return _pool(input, (_AVG, k, s, _pair(padding), (1, 1), builtins.bool(ceil_mode),
                         builtins.bool(count_include_pad), builtins.int(divisor_override or 0)), False)


def _adaptive_size(input, output_size, name):
    if input.dim() not in (3, 4):
        raise ValueError(f"{name}(): Expected 3D or 4D tensor, but got input of shape {list(input.shape)}")
    if isinstance(output_size, numbers.Integral):
        output_size = (output_size, output_size)
    output_size = tuple(output_size)
    if len(output_size) != 2:
        raise ValueError(f"adaptive pool: output_size must be 2 ints, got {output_size}")
    h, w = input.shape[-2], input.shape[-1]
    return (h if output_size[0] is None else builtins.int(output_size[0]),
            w if output_size[1] is None else builtins.int(output_size[1]))


def adaptive_avg_pool2d(input, output_size):
    size = _adaptive_size(input, output_size, "adaptive_avg_pool2d")
    return _pool(input, (_ADAPTIVE_AVG, size, (1, 1), (0, 0), (1, 1), False, True, 0), False)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    size = _adaptive_size(input, output_size, "adaptive_max_pool2d")
    return _pool(input, (_ADAPTIVE_MAX, size, (1, 1), (0, 0), (1, 1), False, True, 0), return_indices)


# ---- activations --------------------------------------------------------------------------------
(_LEAKY, _ELU, _GELU, _GELU_TANH, _SILU, _MISH, _SOFTPLUS, _HARDTANH, _HARDSWISH, _HARDSIGMOID) = range(10)
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _act_derivative(op, x, p):
    """f'(x) from Tensor ops: used by backward under create_graph so double backward works."""
    a, b, c = p
    if op == _LEAKY:
        return ew.where(x > 0, 1.0, a).to(x.dtype)
    if op == _ELU:
        return ew.where(x > 0, b, (x * c).exp() * (a * b * c))
    if op == _GELU:
        return 0.5 * (1 + (x * (0.5 ** 0.5)).erf()) + x * (-0.5 * x * x).exp() * (1 / math.sqrt(2 * math.pi))
    if op == _GELU_TANH:
        k = math.sqrt(2 / math.pi)
        t = (k * (x + 0.044715 * x * x * x)).tanh()
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * (k * (1 + 3 * 0.044715 * x * x))
    if op == _SILU:
        s = x.sigmoid()
        return s * (1 + x * (1 - s))
    if op == _MISH:
        t = ((-x.abs()).exp().log1p() + x.clamp_min(0)).tanh()
        return t + x * (1 - t * t) * x.sigmoid()
    if op == _SOFTPLUS:
        return ew.where(x * a > b, 1.0, (x * a).sigmoid())
    if op == _HARDTANH:
        return ((x > a) & (x < b)).to(x.dtype)
    if op == _HARDSWISH:
        return ew.where(x < -3, 0.0, ew.where(x <= 3, x / 3 + 0.5, 1.0))
    return ((x > -3) & (x < 3)).to(x.dtype) / 6  # hardsigmoid


class _Act(Function):
    @staticmethod
    def forward(ctx, x, op, p):
        ctx.op, ctx.p = op, p
        ctx.save_for_backward(x)
        return _wrap(_C.activation(op, x._c, *p))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        if _state.enabled and (g._requires_grad or x._requires_grad):
            return g * _act_derivative(ctx.op, x, ctx.p), None, None
        return _wrap(_C.activation_backward(ctx.op, g._c, x._c, *ctx.p)), None, None


class _ActInplace(_Act):
    @staticmethod
    def forward(ctx, x, op, p):
        ctx.op, ctx.p = op, p
        old = _wrap(x._c.clone())
        _C.activation(op, x._c, *p, x._c)
        ctx.save_for_backward(old)
        return _wrap(x._c)


def _act(x, op, p=(0.0, 0.0, 0.0), inplace=False):
    if inplace:
        ew._check_inplace(x)
        if _needs_grad(x):
            res = _ActInplace.apply(x, op, p)
            x.grad_fn, x._output_nr, x._requires_grad = res.grad_fn, 0, True
            return x
        _C.activation(op, x._c, *p, x._c)
        return x
    if _needs_grad(x):
        return _Act.apply(x, op, p)
    return _wrap(_C.activation(op, x._c, *p))


def relu(input, inplace=False):
    return _act(input, _LEAKY, (0.0, 0.0, 0.0), True) if inplace else ew.relu(input)


def relu_(input):
    return relu(input, inplace=True)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _act(input, _LEAKY, (builtins.float(negative_slope), 0.0, 0.0), inplace)


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, True)


def elu(input, alpha=1.0, inplace=False):
    return _act(input, _ELU, (builtins.float(alpha), 1.0, 1.0), inplace)


def elu_(input, alpha=1.0):
    return elu(input, alpha, True)


def selu(input, inplace=False):
    return _act(input, _ELU, (_SELU_ALPHA, _SELU_SCALE, 1.0), inplace)


def celu(input, alpha=1.0, inplace=False):
    return _act(input, _ELU, (builtins.float(alpha), 1.0, 1.0 / builtins.float(alpha)), inplace)


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate argument must be either none or tanh, got {approximate!r}")
    return _act(input, _GELU if approximate == "none" else _GELU_TANH)


def silu(input, inplace=False):
    return _act(input, _SILU, inplace=inplace)


def mish(input, inplace=False):
    return _act(input, _MISH, inplace=inplace)


def softplus(input, beta=1.0, threshold=20.0):
    return _act(input, _SOFTPLUS, (builtins.float(beta), builtins.float(threshold), 0.0))


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _act(input, _HARDTANH, (builtins.float(min_val), builtins.float(max_val), 0.0), inplace)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, True)


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def hardswish(input, inplace=False):
    return _act(input, _HARDSWISH, inplace=inplace)


def hardsigmoid(input, inplace=False):
    return _act(input, _HARDSIGMOID, inplace=inplace)


def prelu(input, weight):
    if weight.numel() != 1:
        c = input.shape[1] if input.dim() >= 2 else 1
        if weight.numel() != c:
            raise ValueError(f"Mismatch of parameter numbers and input channel size. Found parameter numbers = "
                             f"{weight.numel()} and channel size = {c}.")
        weight = _channel_view(weight, input.dim()) if input.dim() >= 2 else weight
    return ew.where(input > 0, input, weight * input)


sigmoid = ew.sigmoid
tanh = ew.tanh


# ---- dropout ------------------------------------------------------------------------------------
def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _dropout(input, p, training, inplace, mask_shape):
    _check_p(p)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        mask = creation.zeros(mask_shape, dtype=input.dtype, device=input.device)
    else:
        # Philox-backed Bernoulli draws: reproducible under ember.manual_seed.
        mask = creation.bernoulli(creation.empty(mask_shape, dtype=input.dtype, device=input.device), p=1.0 - p)
        mask = mask * (1.0 / (1.0 - p))
    return ew.mul_(input, mask) if inplace else input * mask


def dropout(input, p=0.5, training=True, inplace=False):
    return _dropout(input, p, training, inplace, tuple(input.shape))


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of (N, C, H, W) or (C, H, W) inputs."""
    if input.dim() not in (3, 4):
        raise ValueError(f"dropout2d: expected a 3D or 4D input, got shape {list(input.shape)}")
    shape = tuple(input.shape[:-2]) + (1, 1)
    return _dropout(input, p, training, inplace, shape)


# ---- losses composed of elementwise ops ---------------------------------------------------------
def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _check_same_size(input, target, name):
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{name}: Using a target size ({list(target.shape)}) that is different to the input size "
                         f"({list(input.shape)}) is deprecated. Please ensure they have the same size.")


class _MseLoss(Function):
    """reduce((x - y)^2) as one node; one C++ call forward and one backward (csrc/ops/loss.cpp)."""

    @staticmethod
    def forward(ctx, input, target, reduction):
        ctx.save_for_backward(input, target)
        ctx.reduction = reduction
        return _wrap(_C.mse_loss(input._c, target._c, reduction))

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        if _state.enabled:  # create_graph: the same formula, from differentiable ops
            d = x - y
            gx = d * (2.0 / builtins.max(d.numel(), 1) if ctx.reduction == _MEAN else 2.0) * g
        else:
            gx = _wrap(_C.mse_loss_backward(g._c, x._c, y._c, ctx.reduction))
        need = ctx.needs_input_grad
        return gx if need[0] else None, -gx if need[1] else None, None


_MEAN = _REDUCTIONS["mean"]


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    code = _REDUCTIONS.get(reduction) if size_average is None and reduce is None else None
    if code is None:
        reduction = _reduction_code(reduction, size_average, reduce)
        code = _REDUCTIONS[reduction]
    if isinstance(input, Tensor) and isinstance(target, Tensor):
        meta = input._c.meta
        # One fused node when nothing broadcasts or promotes; otherwise the composite below.
        if meta == target._c.meta and meta[1] in _FLOAT_CODES:
            if _state.enabled and (input._requires_grad or target._requires_grad):
                return _MseLoss.apply(input, target, code)
            return _wrap(_C.mse_loss(input._c, target._c, code))
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    reduction = _reduction_code(reduction, size_average, reduce)
    return _reduce((input - target).abs(), reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    reduction = _reduction_code(reduction, size_average, reduce)
    if beta < 0:
        raise ValueError("smooth_l1_loss does not support negative values for beta.")
    d = (input - target).abs()
    if beta == 0.0:
        return _reduce(d, reduction)
    return _reduce(ew.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    reduction = _reduction_code(reduction)
    if delta <= 0:
        raise ValueError("huber_loss does not support non-positive values for delta.")
    d = (input - target).abs()
    return _reduce(ew.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta)), reduction)


def _check_float_target(input, target, name):
    # A bool or integer target would be promoted silently; torch refuses it, and so do we.
    if not target.dtype.is_floating_point:
        raise TypeError(f"{name}: expected a floating-point target like the input ({input.dtype.name}), "
                        f"but got target of dtype {target.dtype.name}")


def _bce_terms(x, y):
    """-(y log x + (1-y) log(1-x)), each log clamped at -100 as in torch."""
    return -(y * x.log().clamp_min(-100) + (1 - y) * (1 - x).log().clamp_min(-100))


class _BinaryCrossEntropy(Function):
    """BCE with torch's input gradient (x - y) / max(x (1 - x), 1e-12): finite at x = 0 and 1, where
    the chain rule through the clamped logs would give 0 * inf = NaN."""

    @staticmethod
    def forward(ctx, x, y, weight):
        loss = _bce_terms(x, y)
        ctx.save_for_backward(x, y, weight, loss if ctx.needs_input_grad[2] else None)
        return loss if weight is None else loss * weight

    @staticmethod
    def backward(ctx, g):
        from ._functions.elementwise import sum_to
        x, y, weight, loss = ctx.saved_tensors
        gw = None if weight is None else g * weight
        gx = gy = None
        if ctx.needs_input_grad[0]:
            gx = sum_to((g if gw is None else gw) * (x - y) / (x * (1 - x)).clamp_min(1e-12), x.shape)
        if ctx.needs_input_grad[1]:
            gy = sum_to((g if gw is None else gw) * ((1 - x).log().clamp_min(-100) - x.log().clamp_min(-100)),
                        y.shape)
        dweight = sum_to(g * loss, weight.shape) if ctx.needs_input_grad[2] else None
        return gx, gy, dweight


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """-(y log x + (1-y) log(1-x)), each log clamped at -100 as in torch."""
    reduction = _reduction_code(reduction, size_average, reduce)
    _check_same_size(input, target, "binary_cross_entropy")
    _check_float_target(input, target, "binary_cross_entropy")
    if input.numel():
        # Probabilities outside [0, 1] (or NaN) give a meaningless loss; torch rejects them.
        lo, hi = builtins.float(input.detach().amin()), builtins.float(input.detach().amax())
        if not (0.0 <= lo and hi <= 1.0):
            raise ValueError(f"binary_cross_entropy: all elements of input should be between 0 and 1, "
                             f"but got values in [{lo}, {hi}]")
    if _needs_grad(input, target, weight):
        return _reduce(_BinaryCrossEntropy.apply(input, target, weight), reduction)
    loss = _bce_terms(input, target)
    return _reduce(loss if weight is None else loss * weight, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """Stable form: max(x, 0) - x*y + log1p(exp(-|x|)) (with pos_weight: torch's log-weight form)."""
    reduction = _reduction_code(reduction, size_average, reduce)
    _check_same_size(input, target, "binary_cross_entropy_with_logits")
    _check_float_target(input, target, "binary_cross_entropy_with_logits")
    softplus_neg = (-input.abs()).exp().log1p() + (-input).clamp_min(0)  # log(1 + exp(-x))
    if pos_weight is not None:
        log_weight = (pos_weight - 1) * target + 1
        loss = (1 - target) * input + log_weight * softplus_neg
    else:
        loss = (1 - target) * input + softplus_neg
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    if reduction not in ("batchmean",):
        reduction = _reduction_code(reduction, size_average, reduce)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        pos = target > 0
        loss = ew.where(pos, target * ew.where(pos, target, 1.0).log(), 0.0) - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.dim() > 0 else 1)
    return _reduce(loss, reduction)


__all__ += ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "interpolate", "upsample",
            "upsample_bilinear", "upsample_nearest"]

from ._functional_composite import (adaptive_avg_pool1d, adaptive_max_pool1d, alpha_dropout,  # noqa: E402,F401
                                    avg_pool1d, dropout1d, dropout3d, embedding, glu, hardshrink, logsigmoid,
                                    max_pool1d, rrelu, softshrink, softsign, tanhshrink, threshold)
from . import _functional_composite  # noqa: E402

__all__ += _functional_composite.__all__
