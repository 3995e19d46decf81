"""The F functions that are compositions of other ops (no kernel of their own): embedding, the
1-D pools (the 2-D kernels on an added axis), shrink/threshold-style activations, GLU, RReLU and
the dropout variants. Re-exported by ember.nn.functional; autograd comes from the ops they use.
"""
from __future__ import annotations

import numbers

from . import creation
from .tensor import Tensor
from ._functions import elementwise as ew

__all__ = ["embedding", "max_pool1d", "avg_pool1d", "adaptive_avg_pool1d", "adaptive_max_pool1d", "glu",
           "logsigmoid", "softsign", "softshrink", "hardshrink", "tanhshrink", "threshold", "rrelu",
           "alpha_dropout", "dropout1d", "dropout3d"]


def _F():
    from . import functional  # functional imports this module
    return functional


# ---- embedding ------------------------------------------------------------------------------------
def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """weight[input] for an integer tensor of indices; rows at padding_idx get no gradient."""
    if not isinstance(input, Tensor) or input.dtype.is_floating_point or input.dtype.name == "bool":
        dtype = input.dtype if isinstance(input, Tensor) else type(input).__name__
        raise TypeError(f"embedding: indices must be an integer tensor, got {dtype}")
    if weight.dim() != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got {list(weight.shape)}")
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise ValueError("embedding: max_norm, scale_grad_by_freq and sparse are not supported by ember")
    num = weight.shape[0]
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"embedding: padding_idx {padding_idx} must be within num_embeddings ({num})")
        padding_idx %= num
    flat = input.reshape(-1)
    rows = weight.index_select(0, flat)  # index_select checks the range and names the bad index
    if padding_idx is not None and weight.requires_grad:
        keep = (flat != padding_idx).unsqueeze(1).to(weight.dtype)
        rows = rows * keep + rows.detach() * (1 - keep)  # same values, no gradient into padding rows
    return rows.reshape(tuple(input.shape) + (weight.shape[1],))


# ---- 1-D pooling on the 2-D kernels -----------------------------------------------------------------
def _one(v, name):
    if isinstance(v, numbers.Integral):
        return int(v)
    v = tuple(v)
    if len(v) != 1:
        raise ValueError(f"{name}: expected an int or a 1-tuple, got {v}")
    return int(v[0])


def _as_2d(input, name):
    if input.dim() not in (2, 3):
        raise ValueError(f"{name}: expected a 2D (C, L) or 3D (N, C, L) input, got shape {list(input.shape)}")
    return input.unsqueeze(-2)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    k = _one(kernel_size, "max_pool1d")
    s = k if stride is None or (not isinstance(stride, numbers.Integral) and len(stride) == 0) else _one(stride, "max_pool1d")
    out = _F().max_pool2d(_as_2d(input, "max_pool1d"), (1, k), (1, s), (0, _one(padding, "max_pool1d")),
                          (1, _one(dilation, "max_pool1d")), ceil_mode, return_indices)
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    k = _one(kernel_size, "avg_pool1d")
    s = k if stride is None or (not isinstance(stride, numbers.Integral) and len(stride) == 0) else _one(stride, "avg_pool1d")
    return _F().avg_pool2d(_as_2d(input, "avg_pool1d"), (1, k), (1, s), (0, _one(padding, "avg_pool1d")), ceil_mode,
                           count_include_pad).squeeze(-2)


def adaptive_avg_pool1d(input, output_size):
    return _F().adaptive_avg_pool2d(_as_2d(input, "adaptive_avg_pool1d"),
                                    (1, _one(output_size, "adaptive_avg_pool1d"))).squeeze(-2)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    out = _F().adaptive_max_pool2d(_as_2d(input, "adaptive_max_pool1d"),
                                   (1, _one(output_size, "adaptive_max_pool1d")), return_indices)
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


# ---- activations ------------------------------------------------------------------------------------
def glu(input, dim=-1):
    """a * sigmoid(b) where a, b are the two halves of input along dim."""
    if input.dim() == 0 or input.shape[dim] % 2 != 0:
        raise ValueError(f"glu: halving dimension must be even, but dimension {dim} of shape {list(input.shape)} "
                         "is not")
    a, b = input.chunk(2, dim)
    return a * b.sigmoid()


def logsigmoid(input):
    return -_F().softplus(-input)


def softsign(input):
    return input / (input.abs() + 1)


def softshrink(input, lambd=0.5):
    if lambd < 0:
        raise ValueError(f"softshrink: lambda must be greater or equal to 0, but found to be {lambd}")
    return ew.where(input > lambd, input - lambd, ew.where(input < -lambd, input + lambd, input * 0))


def hardshrink(input, lambd=0.5):
    return ew.where(input.abs() > lambd, input, input * 0)


def tanhshrink(input):
    return input - input.tanh()


def threshold(input, threshold, value, inplace=False):
    """y = x where x > threshold, else value."""
    out = ew.where(input > threshold, input, creation.full((), value, dtype=input.dtype, device=input.device))
    return input.copy_(out) if inplace else out


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Leaky ReLU whose negative slope is drawn from U(lower, upper) per element in training and is
    (lower + upper) / 2 in evaluation."""
    if not 0 <= lower <= upper:
        raise ValueError(f"rrelu: expected 0 <= lower <= upper, got lower={lower}, upper={upper}")
    if training:
        slope = creation.rand(tuple(input.shape), dtype=input.dtype, device=input.device) * (upper - lower) + lower
    else:
        slope = (lower + upper) / 2
    out = ew.where(input >= 0, input, input * slope)
    return input.copy_(out) if inplace else out


# ---- dropout variants -------------------------------------------------------------------------------
def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of (N, C, L) or (C, L) inputs."""
    if input.dim() not in (2, 3):
        raise ValueError(f"dropout1d: expected a 2D or 3D input, got shape {list(input.shape)}")
    return _F()._dropout(input, p, training, inplace, tuple(input.shape[:-1]) + (1,))


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of (N, C, D, H, W) or (C, D, H, W) inputs."""
    if input.dim() not in (4, 5):
        raise ValueError(f"dropout3d: expected a 4D or 5D input, got shape {list(input.shape)}")
    return _F()._dropout(input, p, training, inplace, tuple(input.shape[:-3]) + (1, 1, 1))


def alpha_dropout(input, p=0.5, training=False):
    """Dropout for SELU networks: dropped units take SELU's negative saturation value, then an affine
    map restores zero mean and unit variance (Klambauer et al., as torch implements it)."""
    _F()._check_p(p)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0
    alpha = -1.7580993408473766  # -SELU scale * alpha
    q = 1.0 - p
    a = (q + alpha * alpha * q * p) ** -0.5
    b = -a * alpha * p
    keep = creation.bernoulli(creation.empty(tuple(input.shape), dtype=input.dtype, device=input.device), p=q)
    return (input * keep + alpha * (1 - keep)) * a + b
