"""nn.Parameter: a Tensor that a Module registers as one of its learnable parameters."""
from __future__ import annotations

from ..tensor import Tensor

__all__ = ["Parameter", "Buffer"]


class Parameter(Tensor):
    """A Tensor subclass that requires grad by default and is registered by ``Module.__setattr__``.

    ``Parameter(t)`` shares ``t``'s storage (no copy) and is a leaf, like torch's ``Parameter``.
    Ops on a Parameter return plain Tensors.
    """

    __slots__ = ()

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            from ..creation import empty
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter(): argument 'data' must be Tensor, not {type(data).__name__}")
        p = cls._wrap(data._c)
        if requires_grad:
            p.requires_grad_(True)
        return p

    def __init__(self, data=None, requires_grad=True):
        pass  # everything happens in __new__ (Tensor.__init__ refuses direct construction)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = Parameter(self.detach().clone(), self.requires_grad)
        if self.grad is not None:
            result.grad = self.grad.detach().clone()
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, proto):
        return (_rebuild_parameter, (self.detach().cpu().numpy().copy(), self.requires_grad, str(self.device)))


def _rebuild_parameter(array, requires_grad, device):
    from ..creation import from_numpy
    return Parameter(from_numpy(array).to(device), requires_grad)


class Buffer:
    """Marker for a tensor that should be registered as a buffer when assigned to a Module
    (torch.nn.Buffer): ``self.running = nn.Buffer(ember.zeros(3), persistent=True)``."""

    __slots__ = ("data", "persistent")

    def __init__(self, data=None, *, persistent=True):
        if data is None:
            from ..creation import empty
            data = empty(0)
        self.data = data
        self.persistent = persistent
