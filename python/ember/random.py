"""Seeding and generators. Draws come from a counter-based Philox generator, so the same seed gives
the same numbers on every machine, thread count and device."""
from __future__ import annotations

import os

from . import _C
from ._device import to_device

__all__ = ["Generator", "manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state",
           "default_generator"]

_MASK64 = (1 << 64) - 1


class Generator:
    """A Philox generator: pass it as ``generator=`` to random ops, as in torch."""

    __slots__ = ("_c", "device", "_initial")

    def __init__(self, device="cpu"):
        self.device = to_device(device)
        self._c = _C.Generator()
        self._initial = self._c.seed_value()

    @classmethod
    def _wrap_default(cls):
        g = object.__new__(cls)
        g.device = to_device("cpu")
        g._c = _C.default_generator()
        g._initial = g._c.seed_value()
        return g

    def manual_seed(self, seed) -> "Generator":
        seed = int(seed)
        if seed < -(1 << 63) or seed > _MASK64:
            raise ValueError(f"Overflow when unpacking long: seed {seed} does not fit in 64 bits")
        self._c.manual_seed(seed & _MASK64)
        self._initial = seed & _MASK64
        return self

    def seed(self) -> int:
        s = int.from_bytes(os.urandom(8), "little")
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        return self._initial

    def get_state(self):
        from . import creation
        seed, offset = self._c.get_state()
        return creation.tensor(list(seed.to_bytes(8, "little") + offset.to_bytes(8, "little")),
                               dtype="uint8")

    def set_state(self, state) -> "Generator":
        data = bytes(int(x) for x in state.tolist())
        if len(data) != 16:
            raise ValueError(f"RNG state must be a uint8 tensor of 16 bytes, got {len(data)}")
        self._c.set_state(int.from_bytes(data[:8], "little"), int.from_bytes(data[8:], "little"))
        return self


default_generator = Generator._wrap_default()


def manual_seed(seed) -> Generator:
    """Seeds the default generator (CPU and, when built, CUDA draws share it)."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(state) -> None:
    default_generator.set_state(state)
