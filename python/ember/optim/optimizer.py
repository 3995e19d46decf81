"""The Optimizer base class: param groups, per-parameter state, torch-format state_dict.

Subclasses implement ``_step_group(group)``, which gathers the group's parameters that have a
gradient plus their state buffers and makes one fused ``ember._C`` call for the whole group.
"""
from __future__ import annotations

import copy
from collections import defaultdict

from ..autograd import _state, enable_grad
from ..tensor import Tensor

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marks a hyperparameter that has no default (torch.optim.optimizer.required)."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def _to_float(x):
    if isinstance(x, Tensor):
        return float(x.item())
    return float(x)


class Optimizer:
    """Base class of all optimizers (like torch.optim.Optimizer).

    ``params`` is an iterable of tensors or of dicts defining param groups; ``defaults`` holds the
    hyperparameters used by groups that do not set them. ``state`` maps each parameter tensor to
    its dict of state (step counts as Python floats, buffers as tensors).
    """

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state: dict = defaultdict(dict)
        self.param_groups: list = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {type(params).__name__}")
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    # ---- groups -----------------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        else:
            params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        group = dict(param_group)
        group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            group.setdefault(name, default)
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in existing for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.grad_fn is not None:
                        p.grad = p.grad.detach()
                    p.grad.zero_()

    # ---- stepping ---------------------------------------------------------------------
    def step(self, closure=None):
        """Performs one optimization step; ``closure`` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        prev = _state.enabled  # no_grad() without a context manager object per step
        _state.enabled = False
        try:
            for group in self.param_groups:
                self._step_group(group)
        finally:
            _state.enabled = prev
        return loss

    def _step_group(self, group: dict) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def _params_with_grad(group: dict):
        """(params, grads) of the group's parameters that have a gradient; grads made contiguous.
        Dtypes, shapes and devices are checked by the fused C++ step."""
        params, grads = [], []
        for p in group["params"]:
            g = p.grad
            if g is not None:
                params.append(p)
                grads.append(g if g._c.is_contiguous() else g.contiguous())
        return params, grads

    # ---- state_dict -------------------------------------------------------------------
    def state_dict(self) -> dict:
        """torch's format: ``{"state": {int: {...}}, "param_groups": [{..., "params": [int, ...]}]}``."""
        mapping: dict = {}
        groups = []
        index = 0
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                if id(p) not in mapping:
                    mapping[id(p)] = index
                    index += 1
                ids.append(mapping[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {mapping[id(p)]: dict(s) for p, s in self.state.items() if id(p) in mapping}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Loads a state_dict made by ``state_dict()`` (or torch's); buffers are copied, never shared.

        Raises ValueError when the groups or parameter counts differ, or when a state buffer's
        shape differs from its parameter's (for example, state saved from another model).
        """
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError("optimizer state_dict must be a dict with keys 'state' and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups "
                             f"({len(saved_groups)} vs {len(self.param_groups)})")
        for gi, (g, sg) in enumerate(zip(self.param_groups, saved_groups)):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError(f"loaded state dict contains a parameter group that doesn't match the size of "
                                 f"optimizer's group: group {gi} has {len(sg['params'])} params in the state dict "
                                 f"but {len(g['params'])} in the optimizer")
        saved_state = state_dict["state"]
        new_state: dict = defaultdict(dict)
        for gi, (g, sg) in enumerate(zip(self.param_groups, saved_groups)):
            for pi, (p, key) in enumerate(zip(g["params"], sg["params"])):
                s = saved_state.get(key, saved_state.get(str(key)))
                if s is None:
                    continue
                new_state[p] = {name: self._cast_state(gi, pi, name, p, v) for name, v in s.items()}
        for g, sg in zip(self.param_groups, saved_groups):
            params = g["params"]
            g.clear()
            g.update({k: copy.deepcopy(v) for k, v in sg.items() if k != "params"})
            g["params"] = params
        self.state = new_state

    @staticmethod
    def _cast_state(gi, pi, name, p, v):
        if not isinstance(v, Tensor):
            return copy.deepcopy(v)
        if name in ("step", "mu_product") and v.dim() == 0:
            return float(v.item())
        if tuple(v.shape) != tuple(p.shape):
            raise ValueError(f"loaded state for param {pi} of group {gi} has '{name}' of shape {tuple(v.shape)}, "
                             f"but the parameter has shape {tuple(p.shape)}")
        dtype = p.dtype if v.is_floating_point() else v.dtype
        out = v.detach().to(dtype=dtype, device=p.device)
        if out is v or out._c.shares_storage(v._c) or not out.is_contiguous():
            out = out.clone().contiguous()
        return out

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __repr__(self):
        lines = [self.__class__.__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


def _check_lr(lr) -> None:
    if isinstance(lr, Tensor):
        return
    _check(0.0 <= lr, f"Invalid learning rate: {lr}")


def _state_list(state_dicts, key):
    return [s[key]._c for s in state_dicts]


def _impls(tensors):
    return [t._c for t in tensors]

