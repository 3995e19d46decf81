"""Identity and Linear layers (torch's default init: kaiming_uniform_(a=sqrt(5)) weights, fan-in bias)."""
from __future__ import annotations

import math

from ... import functional as F
from ...creation import empty
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["Identity", "Linear"]


class Identity(Module):
    """Returns its input; accepts (and ignores) any constructor arguments."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """y = x W^T + b with W of shape (out_features, in_features)."""

    __constants__ = ["in_features", "out_features"]

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(empty((out_features, in_features), device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        return self._forward_fused(input, None)

    def _forward_fused(self, input, activation):
        """act(F.linear(input, weight, bias)) in one op; activation is None, 'relu', 'tanh' or
        'sigmoid'. nn.Sequential calls it with the activation module that follows this layer."""
        if type(self) is Linear:
            # Straight from _parameters: self.weight would first fail the normal lookup (an
            # AttributeError built and dropped) before Module.__getattr__ finds it. A subclass may
            # define weight/bias otherwise, and a deleted parameter may have become a plain
            # attribute: those take the general path.
            p = self._parameters
            try:
                weight, bias = p["weight"], p["bias"]
            except KeyError:
                weight, bias = self.weight, self.bias
            return F.linear(input, weight, bias, activation=activation)
        return F.linear(input, self.weight, self.bias, activation=activation)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
