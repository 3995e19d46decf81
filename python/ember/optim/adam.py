"""Adam (with amsgrad, L2 or decoupled weight decay, maximize), like torch.optim.Adam."""
from __future__ import annotations

from .. import _C
from .optimizer import Optimizer, _check, _check_lr, _to_float
from ..creation import zeros_like

__all__ = ["Adam"]


def _check_adam_args(lr, betas, eps, weight_decay):
    _check_lr(lr)
    _check(0.0 <= eps, f"Invalid epsilon value: {eps}")
    _check(0.0 <= betas[0] < 1.0, f"Invalid beta parameter at index 0: {betas[0]}")
    _check(0.0 <= betas[1] < 1.0, f"Invalid beta parameter at index 1: {betas[1]}")
    _check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")


class Adam(Optimizer):
    """Adam. Per step: m = lerp(m, g, 1-b1); v = b2 v + (1-b2) g^2;
    p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)."""

    _decoupled_default = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=None):
        _check_adam_args(lr, betas, eps, weight_decay)
        if decoupled_weight_decay is None:
            decoupled_weight_decay = self._decoupled_default
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, capturable=capturable, differentiable=differentiable,
                        fused=fused, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _step_group(self, group):
        params, grads = self._params_with_grad(group)
        if not params:
            return
        amsgrad = bool(group["amsgrad"])
        m, v, vmax, steps = [], [], [], []
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state["step"] = 0.0
                state["exp_avg"] = zeros_like(p)
                state["exp_avg_sq"] = zeros_like(p)
                if amsgrad:
                    state["max_exp_avg_sq"] = zeros_like(p)
            state["step"] = float(state["step"]) + 1.0
            steps.append(state["step"])
            m.append(state["exp_avg"]._c)
            v.append(state["exp_avg_sq"]._c)
            if amsgrad:
                if "max_exp_avg_sq" not in state:
                    state["max_exp_avg_sq"] = zeros_like(p)
                vmax.append(state["max_exp_avg_sq"]._c)
        beta1, beta2 = group["betas"]
        _C.adam_step([p._c for p in params], [g._c for g in grads], m, v, vmax, steps, _to_float(group["lr"]),
                     _to_float(beta1), _to_float(beta2), _to_float(group["eps"]), _to_float(group["weight_decay"]),
                     amsgrad, bool(group["maximize"]), bool(group.get("decoupled_weight_decay", False)))
