"""Adadelta (rho, eps, lr, weight decay, maximize), like torch.optim.Adadelta."""
from __future__ import annotations

from .. import _C
from .optimizer import Optimizer, _check, _check_lr, _to_float
from ..creation import zeros_like

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        _check_lr(lr)
        _check(0.0 <= rho <= 1.0, f"Invalid rho value: {rho}")
        _check(0.0 <= eps, f"Invalid epsilon value: {eps}")
        _check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def _step_group(self, group):
        params, grads = self._params_with_grad(group)
        if not params:
            return
        sq, acc = [], []
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state["step"] = 0.0
                state["square_avg"] = zeros_like(p)
                state["acc_delta"] = zeros_like(p)
            state["step"] = float(state["step"]) + 1.0
            sq.append(state["square_avg"]._c)
            acc.append(state["acc_delta"]._c)
        _C.adadelta_step([p._c for p in params], [g._c for g in grads], sq, acc, _to_float(group["lr"]),
                         _to_float(group["rho"]), _to_float(group["eps"]), _to_float(group["weight_decay"]),
                         bool(group["maximize"]))
