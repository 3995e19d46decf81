"""SGD with momentum, dampening, Nesterov momentum, weight decay and maximize (torch.optim.SGD)."""
from __future__ import annotations

from .. import _C
from .optimizer import Optimizer, _check, _check_lr, _to_float
from ..creation import zeros_like

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent; the first step initialises the momentum buffer with the gradient."""

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        _check_lr(lr)
        _check(momentum >= 0.0, f"Invalid momentum value: {momentum}")
        _check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach, differentiable=differentiable,
                        fused=fused)
        super().__init__(params, defaults)

    def _step_group(self, group):
        params, grads = self._params_with_grad(group)
        if not params:
            return
        momentum = _to_float(group["momentum"])
        bufs, first = [], []
        if momentum != 0:
            for p in params:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                first.append(buf is None)
                if buf is None:
                    buf = state["momentum_buffer"] = zeros_like(p)
                bufs.append(buf._c)
        _C.sgd_step([p._c for p in params], [g._c for g in grads], bufs, first, _to_float(group["lr"]), momentum,
                    _to_float(group["dampening"]), _to_float(group["weight_decay"]), bool(group["nesterov"]),
                    bool(group["maximize"]))
