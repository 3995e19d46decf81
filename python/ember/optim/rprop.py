"""Rprop (etas, step_sizes, maximize), like torch.optim.Rprop: per-element step sizes that grow
while the gradient keeps its sign and shrink (skipping the update) when it flips."""
from __future__ import annotations

from .. import _C
from .optimizer import Optimizer, _check, _check_lr, _to_float
from ..creation import full_like, zeros_like

__all__ = ["Rprop"]


class Rprop(Optimizer):
    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False,
                 foreach=None, maximize=False, differentiable=False):
        _check_lr(lr)
        _check(0.0 < etas[0] < 1.0 < etas[1], f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), foreach=foreach, maximize=maximize,
                        differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _step_group(self, group):
        params, grads = self._params_with_grad(group)
        if not params:
            return
        prevs, sizes = [], []
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state["step"] = 0.0
                state["prev"] = zeros_like(p)
                state["step_size"] = full_like(p, _to_float(group["lr"]))
            state["step"] = float(state["step"]) + 1.0
            prevs.append(state["prev"]._c)
            sizes.append(state["step_size"]._c)
        etaminus, etaplus = group["etas"]
        lo, hi = group["step_sizes"]
        _C.rprop_step([p._c for p in params], [g._c for g in grads], prevs, sizes, _to_float(etaminus),
                      _to_float(etaplus), _to_float(lo), _to_float(hi), bool(group["maximize"]))
