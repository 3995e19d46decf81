"""ember.device: where a tensor lives ('cpu' or 'cuda:N'), parsed and compared like torch.device."""
from __future__ import annotations

__all__ = ["device"]


class device:
    __slots__ = ("type", "index", "_code")

    def __new__(cls, type_or_str, index=None):
        if isinstance(type_or_str, device):
            return type_or_str
        if not isinstance(type_or_str, str):
            if isinstance(type_or_str, int) and not isinstance(type_or_str, bool):
                return device("cuda", type_or_str)
            raise TypeError(f"device must be a string like 'cpu' or 'cuda:0', got {type_or_str!r}")
        spec = type_or_str.strip()
        kind, _, idx = spec.partition(":")
        if kind not in ("cpu", "cuda"):
            raise ValueError(f"Expected one of cpu, cuda device type at start of device string: {type_or_str!r}")
        if idx:
            if index is not None:
                raise ValueError(f"device index given twice in {type_or_str!r}")
            if not idx.isdigit():
                raise ValueError(f"Invalid device string: {type_or_str!r}")
            index = int(idx)
        if index is not None and (not isinstance(index, int) or index < 0):
            raise ValueError(f"device index must be a non-negative integer, got {index!r}")
        if kind == "cpu" and index not in (None, 0):
            raise ValueError(f"CPU device index must be 0, got {index}")
        self = object.__new__(cls)
        self.type = kind
        self.index = None if kind == "cpu" else index
        self._code = (0, 0) if kind == "cpu" else (1, index or 0)
        return self

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except (TypeError, ValueError):
                return False
        return isinstance(other, device) and self._code == other._code and self.index == other.index

    def __hash__(self):
        return hash((self.type, self.index))


CPU = device("cpu")


def from_codes(dev_type: int, dev_index: int) -> device:
    return CPU if dev_type == 0 else device("cuda", dev_index)


def to_device(value) -> device:
    if value is None:
        return CPU
    return value if isinstance(value, device) else device(value)
