"""NAdam (momentum_decay, optional decoupled weight decay, maximize), like torch.optim.NAdam."""
from __future__ import annotations

import numpy as np

from .. import _C
from .. import _dtype
from .optimizer import Optimizer, _check, _check_lr, _to_float
from ..creation import zeros_like

__all__ = ["NAdam"]


class NAdam(Optimizer):
    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        _check_lr(lr)
        _check(0.0 <= eps, f"Invalid epsilon value: {eps}")
        _check(0.0 <= betas[0] < 1.0, f"Invalid beta parameter at index 0: {betas[0]}")
        _check(0.0 <= betas[1] < 1.0, f"Invalid beta parameter at index 1: {betas[1]}")
        _check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        _check(0.0 <= momentum_decay, f"Invalid momentum_decay value: {momentum_decay}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                        maximize=maximize, foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def _step_group(self, group):
        params, grads = self._params_with_grad(group)
        if not params:
            return
        lr = _to_float(group["lr"])
        beta1, beta2 = (_to_float(b) for b in group["betas"])
        momentum_decay = _to_float(group["momentum_decay"])
        # torch keeps mu_product in a scalar tensor of the default float dtype (float32 unless changed).
        single = _dtype.get_default_dtype() != _dtype.float64
        m, v, coefs = [], [], []
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state["step"] = 0.0
                state["mu_product"] = 1.0
                state["exp_avg"] = zeros_like(p)
                state["exp_avg_sq"] = zeros_like(p)
            step = state["step"] = float(state["step"]) + 1.0
            bias_correction2 = 1 - beta2 ** step
            mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
            mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
            mu_product = float(state["mu_product"]) * mu
            if single:
                mu_product = float(np.float32(np.float32(state["mu_product"]) * np.float32(mu)))
            state["mu_product"] = mu_product
            mu_product_next = mu_product * mu_next
            coefs.append([-lr * (1.0 - mu) / (1.0 - mu_product), (-lr * mu_next) / (1.0 - mu_product_next),
                          bias_correction2])
            m.append(state["exp_avg"]._c)
            v.append(state["exp_avg_sq"]._c)
        _C.nadam_step([p._c for p in params], [g._c for g in grads], m, v, coefs, lr, beta1, beta2,
                      _to_float(group["eps"]), _to_float(group["weight_decay"]),
                      bool(group["decoupled_weight_decay"]), bool(group["maximize"]))
