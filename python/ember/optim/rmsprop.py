"""RMSprop (alpha, eps, momentum, centered, weight decay, maximize), like torch.optim.RMSprop."""
from __future__ import annotations

from .. import _C
from .optimizer import Optimizer, _check, _check_lr, _to_float
from ..creation import zeros_like

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        _check_lr(lr)
        _check(0.0 <= eps, f"Invalid epsilon value: {eps}")
        _check(0.0 <= momentum, f"Invalid momentum value: {momentum}")
        _check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        _check(0.0 <= alpha, f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach, maximize=maximize,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def _step_group(self, group):
        params, grads = self._params_with_grad(group)
        if not params:
            return
        momentum = _to_float(group["momentum"])
        centered = bool(group["centered"])
        sq, bufs, gavg = [], [], []
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state["step"] = 0.0
                state["square_avg"] = zeros_like(p)
                if momentum > 0:
                    state["momentum_buffer"] = zeros_like(p)
                if centered:
                    state["grad_avg"] = zeros_like(p)
            state["step"] = float(state["step"]) + 1.0
            sq.append(state["square_avg"]._c)
            if momentum > 0:
                bufs.append(state.setdefault("momentum_buffer", zeros_like(p))._c)
            if centered:
                gavg.append(state.setdefault("grad_avg", zeros_like(p))._c)
        _C.rmsprop_step([p._c for p in params], [g._c for g in grads], sq, bufs, gavg, _to_float(group["lr"]),
                        _to_float(group["alpha"]), _to_float(group["eps"]), _to_float(group["weight_decay"]),
                        momentum, centered, bool(group["maximize"]))
