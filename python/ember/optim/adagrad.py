"""Adagrad (lr_decay, initial_accumulator_value, eps, weight decay, maximize), like torch.optim.Adagrad."""
from __future__ import annotations

from .. import _C
from .optimizer import Optimizer, _check, _check_lr, _to_float
from ..creation import full_like

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        _check_lr(lr)
        _check(0.0 <= lr_decay, f"Invalid lr_decay value: {lr_decay}")
        _check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        _check(0.0 <= initial_accumulator_value,
               f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        _check(0.0 <= eps, f"Invalid epsilon value: {eps}")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        # torch creates Adagrad's state eagerly, at construction.
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p, group):
        state = self.state[p]
        if len(state) == 0:
            state["step"] = 0.0
            state["sum"] = full_like(p, _to_float(group["initial_accumulator_value"]))
        return state

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        if hasattr(self, "state"):
            for p in self.param_groups[-1]["params"]:
                self._init_state(p, self.param_groups[-1])

    def _step_group(self, group):
        params, grads = self._params_with_grad(group)
        if not params:
            return
        sums, steps = [], []
        for p in params:
            state = self._init_state(p, group)
            state["step"] = float(state["step"]) + 1.0
            steps.append(state["step"])
            sums.append(state["sum"]._c)
        _C.adagrad_step([p._c for p in params], [g._c for g in grads], sums, steps, _to_float(group["lr"]),
                        _to_float(group["lr_decay"]), _to_float(group["weight_decay"]), _to_float(group["eps"]),
                        bool(group["maximize"]))
