"""ember's dtypes: torch-style singletons (ember.float32, ...) whose codes match csrc/core/dtype.h."""
from __future__ import annotations

import builtins

import numpy as np

__all__ = ["dtype", "float32", "float64", "float16", "bfloat16", "int64", "int32", "uint8", "bool",
           "float", "double", "half", "long", "int", "promote_types", "get_default_dtype",
           "set_default_dtype"]


class dtype:
    """An element type. Compare with ``is`` or ``==``; ``str(ember.float32) == 'ember.float32'``."""

    __slots__ = ("name", "code", "itemsize", "is_floating_point", "is_signed", "_np")

    def __init__(self, name, code, itemsize, is_floating_point, is_signed, np_dtype):
        self.name = name
        self.code = code
        self.itemsize = itemsize
        self.is_floating_point = is_floating_point
        self.is_signed = is_signed
        self._np = np_dtype

    def __repr__(self):
        return f"ember.{self.name}"

    def __reduce__(self):
        return (_dtype_by_name, (self.name,))

    def to_numpy(self):
        if self._np is None:
            raise TypeError(f"{self!r} has no NumPy equivalent")
        return np.dtype(self._np)


bool = dtype("bool", 0, 1, False, False, np.bool_)
uint8 = dtype("uint8", 1, 1, False, False, np.uint8)
int32 = dtype("int32", 2, 4, False, True, np.int32)
int64 = dtype("int64", 3, 8, False, True, np.int64)
float16 = dtype("float16", 4, 2, True, True, np.float16)
bfloat16 = dtype("bfloat16", 5, 2, True, True, None)
float32 = dtype("float32", 6, 4, True, True, np.float32)
float64 = dtype("float64", 7, 8, True, True, np.float64)

float = float32
double = float64
half = float16
long = int64
int = int32

_BY_CODE = (bool, uint8, int32, int64, float16, bfloat16, float32, float64)
_BY_NAME = {d.name: d for d in _BY_CODE}
_BY_NAME.update({"float": float32, "double": float64, "half": float16, "long": int64, "int": int32})
_FROM_NUMPY = {np.dtype(d._np): d for d in _BY_CODE if d._np is not None}


def _dtype_by_name(name):
    return _BY_NAME[name]


def to_dtype(value) -> dtype:
    """Accepts an ember dtype, a name like 'float32', or a NumPy dtype; anything else is a TypeError."""
    if isinstance(value, dtype):
        return value
    if isinstance(value, str):
        key = value[6:] if value.startswith("ember.") else value
        if key in _BY_NAME:
            return _BY_NAME[key]
        raise TypeError(f"unknown dtype {value!r}; expected one of {sorted(_BY_NAME)}")
    try:
        npd = np.dtype(value)
    except TypeError:
        raise TypeError(f"dtype must be an ember.dtype, got {value!r}") from None
    if npd in _FROM_NUMPY:
        return _FROM_NUMPY[npd]
    raise TypeError(f"unsupported dtype {value!r}")


def from_code(code) -> dtype:
    return _BY_CODE[code]


def from_numpy_dtype(npd) -> dtype:
    try:
        return _FROM_NUMPY[np.dtype(npd)]
    except KeyError:
        raise TypeError(
            f"can't convert np.ndarray of type numpy.{np.dtype(npd)}. The only supported types are: "
            "float64, float32, int64, int32, uint8, and bool") from None


_RANK = {bool: 0, uint8: 1, int32: 2, int64: 3, float16: 4, bfloat16: 4, float32: 5, float64: 6}


def promote_types(a: dtype, b: dtype) -> dtype:
    """torch.promote_types: bool < integers < floats, the wider type winning within a category."""
    if a is b:
        return a
    if {a, b} == {float16, bfloat16}:
        return float32
    return a if _RANK[a] >= _RANK[b] else b


_default_dtype = float32


def get_default_dtype() -> dtype:
    return _default_dtype


def set_default_dtype(d) -> None:
    global _default_dtype
    d = to_dtype(d)
    if d not in (float32, float64):
        raise TypeError(f"only floating-point types are supported as the default type, got {d!r}")
    _default_dtype = d


def result_type_of_python_scalar(value) -> dtype:
    if isinstance(value, builtins.bool):
        return bool
    if isinstance(value, builtins.int):
        return int64
    return _default_dtype
