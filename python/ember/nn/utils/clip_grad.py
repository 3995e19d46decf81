"""Gradient clipping: clip_grad_norm_ (one pass over the grads) and clip_grad_value_."""
from __future__ import annotations

import math

import numpy as np

from ...autograd import no_grad
from ...creation import tensor as _tensor
from ...tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_"]


def _as_list(tensors):
    if isinstance(tensors, Tensor):
        return [tensors]
    return list(tensors)


def _norm_of(g, norm_type):
    """||g||_p as a 0-d tensor on g's device (float dtype)."""
    if not g.dtype.is_floating_point:
        g = g.float()
    if norm_type == math.inf or norm_type == -math.inf:
        a = g.abs()
        reducer = getattr(a, "amax" if norm_type > 0 else "amin", None)
        if reducer is not None:
            return reducer()
        v = np.abs(a.detach().cpu().numpy())
        return _tensor(v.max() if norm_type > 0 else v.min(), dtype=g.dtype, device=g.device)
    if norm_type == 2.0:
        return (g * g).sum().sqrt()
    if norm_type == 1.0:
        return g.abs().sum()
    if norm_type == 0.0:
        return (g != 0).sum().to(g.dtype)
    return (g.abs() ** norm_type).sum() ** (1.0 / norm_type)


@no_grad()
def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach=None):
    """The norm of the norms of ``tensors`` (as if they were concatenated into one vector)."""
    tensors = [t for t in _as_list(tensors) if t is not None]
    norm_type = float(norm_type)
    if len(tensors) == 0:
        return _tensor(0.0)
    norms = [_norm_of(t, norm_type) for t in tensors]
    device = norms[0].device
    norms = [n.to(device) for n in norms]
    if norm_type == math.inf or norm_type == -math.inf:
        total = norms[0]
        for n in norms[1:]:
            total = total.maximum(n) if norm_type > 0 else total.minimum(n)
    elif norm_type in (1.0, 0.0):
        total = norms[0]
        for n in norms[1:]:
            total = total + n
    else:
        total = norms[0] ** norm_type
        for n in norms[1:]:
            total = total + n ** norm_type
        total = total ** (1.0 / norm_type)
    if error_if_nonfinite and bool((total.isnan() | total.isinf()).item()):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
                           "so it cannot be clipped. To disable this error and scale the gradients by the "
                           "non-finite norm anyway, set `error_if_nonfinite=False`")
    return total


@no_grad()
def clip_grads_with_norm_(parameters, max_norm: float, total_norm, foreach=None) -> None:
    """Scales the grads in place by min(1, max_norm / (total_norm + 1e-6))."""
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if len(grads) == 0:
        return
    clip_coef = float(max_norm) / (total_norm + 1e-6)
    # Always multiply (by at most 1): no host sync on the value of the norm.
    clip_coef_clamped = clip_coef.clamp(max=1.0)
    for g in grads:
        g.mul_(clip_coef_clamped.to(device=g.device, dtype=g.dtype))


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None):
    """Clips the gradient norm of an iterable of parameters in place; returns the total norm (before clipping)."""
    parameters = _as_list(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    import warnings
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
                  "`torch.nn.utils.clip_grad_norm_`.", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


@no_grad()
def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamps every gradient into [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    for p in _as_list(parameters):
        if p.grad is not None:
            p.grad.clamp_(min=-clip_value, max=clip_value)
