"""Tensor creation: tensor/as_tensor/from_numpy, zeros/ones/full/empty, ranges, eye, random draws."""
from __future__ import annotations

import builtins
import math
import numbers

import numpy as np

from . import _C
from . import _dtype as dt
from ._device import CPU, device as _device_cls, to_device
from .tensor import Size, Tensor

__all__ = ["tensor", "as_tensor", "from_numpy", "from_dlpack", "empty", "zeros", "ones", "full",
           "empty_like", "zeros_like", "ones_like", "full_like", "arange", "linspace", "logspace", "eye",
           "rand", "randn", "randint", "randperm", "normal", "rand_like", "randn_like", "randint_like",
           "bernoulli", "scalar_tensor"]

_UNIFORM, _NORMAL, _INTEGER, _BERNOULLI = 0, 1, 2, 3


def _shape(size) -> tuple:
    """Accepts f(2, 3), f((2, 3)), f([2, 3]) and f(Size) and validates every entry."""
    if len(size) == 1 and isinstance(size[0], (tuple, list, Size)):
        size = tuple(size[0])
    out = []
    for s in size:
        if isinstance(s, Tensor):
            s = s.item()
        if isinstance(s, builtins.bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"size must be a sequence of ints, but got {type(s).__name__} {s!r} in {tuple(size)}")
        s = builtins.int(s)
        if s < 0:
            raise ValueError(f"Trying to create tensor with negative dimension {s}: {list(size)}")
        out.append(s)
    return tuple(out)


def _finish(c, requires_grad) -> Tensor:
    t = Tensor._wrap(c)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _dtype_or_default(dtype, default=None):
    if dtype is None:
        return default or dt.get_default_dtype()
    return dt.to_dtype(dtype)


def empty(*size, dtype=None, device=None, requires_grad=False, **_ignored) -> Tensor:
    d = to_device(device)
    return _finish(_C.empty(_shape(size), _dtype_or_default(dtype).code, *d._code), requires_grad)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    if dtype is None:
        if isinstance(fill_value, Tensor):
            fill_value = fill_value.item()
        dtype = dt.result_type_of_python_scalar(fill_value)
    d = to_device(device)
    return _finish(_C.full(_shape((size,)), fill_value, dt.to_dtype(dtype).code, *d._code), requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    d = to_device(device)
    return _finish(_C.full(_shape(size), 0, _dtype_or_default(dtype).code, *d._code), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    d = to_device(device)
    return _finish(_C.full(_shape(size), 1, _dtype_or_default(dtype).code, *d._code), requires_grad)


def _like(t, dtype, device):
    return (t.dtype if dtype is None else dt.to_dtype(dtype)), (t.device if device is None else to_device(device))


def empty_like(t, *, dtype=None, device=None, requires_grad=False, memory_format=None) -> Tensor:
    d, dev = _like(t, dtype, device)
    return empty(t.shape, dtype=d, device=dev, requires_grad=requires_grad)


def zeros_like(t, *, dtype=None, device=None, requires_grad=False, memory_format=None) -> Tensor:
    d, dev = _like(t, dtype, device)
    return zeros(t.shape, dtype=d, device=dev, requires_grad=requires_grad)


def ones_like(t, *, dtype=None, device=None, requires_grad=False, memory_format=None) -> Tensor:
    d, dev = _like(t, dtype, device)
    return ones(t.shape, dtype=d, device=dev, requires_grad=requires_grad)


def full_like(t, fill_value, *, dtype=None, device=None, requires_grad=False, memory_format=None) -> Tensor:
    d, dev = _like(t, dtype, device)
    return full(t.shape, fill_value, dtype=d, device=dev, requires_grad=requires_grad)


# ---- from data --------------------------------------------------------------------------------
def _infer_array(data, dtype):
    """Turns nested Python data into a NumPy array with torch's dtype inference."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return data
    if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flatten_first(data)):
        data = _tensors_to_lists(data)
    try:
        with np.errstate(all="ignore"):
            a = np.array(data)
    except ValueError as e:
        raise ValueError(f"could not create a tensor from {_short(data)}: the nested sequences are ragged "
                         f"(every sub-list at one depth must have the same length) [{e}]") from None
    if a.dtype == object:
        raise ValueError(f"could not create a tensor from {_short(data)}: the nested sequences are ragged "
                         "or contain objects that are not numbers")
    if a.dtype.kind in "USV":
        raise TypeError(f"could not create a tensor from {_short(data)}: elements of type "
                        f"{_non_number_type(data)} can't be converted to a number")
    if a.dtype.kind == "c":
        raise TypeError("complex numbers are not supported by ember")
    if dtype is None:
        # Python data: floats become the default dtype, ints int64, bools bool (NumPy would pick float64).
        if a.dtype.kind == "f":
            a = a.astype(dt.get_default_dtype().to_numpy(), copy=False)
        elif a.dtype.kind in "iu":
            a = a.astype(np.int64, copy=False)
    return a


def _flatten_first(data):
    while isinstance(data, (list, tuple)) and data:
        yield data[0]
        data = data[0]


def _tensors_to_lists(data):
    if isinstance(data, Tensor):
        return data.tolist()
    if isinstance(data, (list, tuple)):
        return [_tensors_to_lists(x) for x in data]
    return data


def _non_number_type(data):
    """Name of the first leaf that is not a number (for error messages)."""
    stack = [data]
    while stack:
        x = stack.pop(0)
        if isinstance(x, (list, tuple)):
            stack.extend(x)
        elif not isinstance(x, (numbers.Number, np.generic)):
            return type(x).__name__
    return "object"


def _short(data):
    r = repr(data)
    return r if len(r) < 60 else r[:57] + "..."


def _from_array(a, dtype, device, copy) -> Tensor:
    """Wraps an ndarray (zero-copy) and converts/copies only when asked or needed."""
    dev = to_device(device)
    if isinstance(a, Tensor):
        t = a.detach()
        want = t.dtype if dtype is None else dt.to_dtype(dtype)
        if copy or want is not t.dtype or dev != t.device and device is not None:
            return Tensor._wrap(t._c.to(want.code, *(dev if device is not None else t.device)._code))
        return t
    want = None if dtype is None else dt.to_dtype(dtype)
    if copy and not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    if a.dtype not in dt._FROM_NUMPY and want is not None and want._np is not None:
        a = a.astype(want.to_numpy())  # e.g. float16 data requested as float32
    src = dt.from_numpy_dtype(a.dtype)
    want = want or src
    c = _C.from_numpy(a)
    if copy or want is not src or dev != CPU or not a.flags.writeable:
        c = c.to(want.code, *dev._code)
    return Tensor._wrap(c)


def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False) -> Tensor:
    """Copies `data` (nested lists, numbers, NumPy arrays, tensors) into a new tensor."""
    a = _infer_array(data, dtype)
    t = _from_array(a, dtype, device, copy=True)
    if requires_grad:
        t.requires_grad_(True)
    return t


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like tensor(), but shares memory with a NumPy array or tensor when dtype and device allow."""
    a = _infer_array(data, dtype)
    return _from_array(a, dtype, device, copy=not isinstance(data, (np.ndarray, Tensor)))


def scalar_tensor(s, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    return full((), s, dtype=dtype or dt.get_default_dtype(), device=device, requires_grad=requires_grad)


def from_numpy(a: np.ndarray) -> Tensor:
    """A tensor sharing memory with `a` (which it keeps alive); writes through either side show in both."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(a).__name__})")
    if not a.flags.writeable:
        import warnings
        warnings.warn("The given NumPy array is not writable, and ember does not support non-writable tensors. "
                      "Writing to this tensor is undefined behavior.", UserWarning, stacklevel=2)
    return Tensor._wrap(_C.from_numpy(a))


def from_dlpack(ext) -> Tensor:
    """Zero-copy import of any object with __dlpack__ (NumPy arrays, torch tensors) or a DLPack capsule."""
    if hasattr(ext, "__dlpack__"):
        try:
            capsule = ext.__dlpack__(max_version=(1, 0))
        except TypeError:  # a producer that predates DLPack 1.0
            capsule = ext.__dlpack__()
    else:
        capsule = ext
    return Tensor._wrap(_C.from_dlpack_capsule(capsule))


# ---- ranges -------------------------------------------------------------------------------
def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    start, end, step = vals
    if not all(math.isfinite(v) for v in vals):
        raise ValueError(f"arange: unsupported range: {start} -> {end} (step {step})")
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if (end - start) / step < 0:
        raise ValueError(f"arange: upper bound and larger bound inconsistent with step sign "
                         f"(start={start}, end={end}, step={step})")
    if dtype is None:
        dtype = dt.int64 if all(isinstance(v, numbers.Integral) for v in vals) else dt.get_default_dtype()
    dtype = dt.to_dtype(dtype)
    n = builtins.max(0, math.ceil((end - start) / step))
    a = start + step * np.arange(n, dtype=np.float64 if dtype.is_floating_point else np.int64)
    return tensor(a, dtype=dtype, device=device, requires_grad=requires_grad)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    if not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValueError(f"linspace: number of steps must be a non-negative int, got {steps!r}")
    a = np.linspace(start, end, steps, dtype=np.float64)
    return tensor(a, dtype=dtype or dt.get_default_dtype(), device=device, requires_grad=requires_grad)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    a = np.power(base, np.linspace(start, end, steps, dtype=np.float64))
    return tensor(a, dtype=dtype or dt.get_default_dtype(), device=device, requires_grad=requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    m = n if m is None else m
    for v in (n, m):
        if not isinstance(v, numbers.Integral) or v < 0:
            raise ValueError(f"eye: n and m must be non-negative ints, got n={n!r}, m={m!r}")
    return tensor(np.eye(n, m), dtype=dtype or dt.get_default_dtype(), device=device, requires_grad=requires_grad)


# ---- random -------------------------------------------------------------------------------
def _gen(generator):
    return None if generator is None else generator._c


def _random(size, kind, a, b, ia, ib, generator, dtype, device, requires_grad, default=None):
    t = empty(*size, dtype=dtype or default, device=device)
    _C.random_fill_(t._c, kind, a, b, ia, ib, _gen(generator))
    if requires_grad:
        t.requires_grad_(True)
    return t


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _random(size, _UNIFORM, 0.0, 1.0, 0, 2, generator, dtype, device, requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _random(size, _NORMAL, 0.0, 1.0, 0, 2, generator, dtype, device, requires_grad)


def randint(low, high=None, size=None, *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing required argument 'size'")
    if low >= high:
        raise ValueError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    return _random((size,), _INTEGER, 0.0, 1.0, builtins.int(low), builtins.int(high), generator,
                   dtype, device, requires_grad, default=dt.int64)


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    d = to_device(device)
    return _finish(_C.randperm(n, (dtype and dt.to_dtype(dtype) or dt.int64).code, *d._code, _gen(generator)),
                   requires_grad)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        m = mean if isinstance(mean, Tensor) else None
        s = std if isinstance(std, Tensor) else None
        ref = m if m is not None else s
        if s is not None and s.numel() and not builtins.float(s.detach().amin()) >= 0:
            raise ValueError(f"normal expects all elements of std >= 0.0, but found std min "
                             f"{builtins.float(s.detach().amin())}")
        z = randn(ref.shape, generator=generator, dtype=ref.dtype, device=ref.device)
        return (z * std + mean).detach()
    if size is None:
        raise TypeError("normal() with float mean and std needs a size")
    if std < 0:
        raise ValueError(f"normal expects std >= 0.0, but found std {std}")
    return _random((size,), _NORMAL, builtins.float(mean), builtins.float(std), 0, 2, generator, dtype, device,
                   requires_grad)


def bernoulli(input, p=None, *, generator=None) -> Tensor:
    """Draws 0/1 with probability p (a float) or with per-element probabilities given by `input`."""
    if p is not None:
        out = empty(input.shape, dtype=input.dtype, device=input.device)
        _C.random_fill_(out._c, _BERNOULLI, builtins.float(p), 0.0, 0, 2, _gen(generator))
        return out
    if input.numel():
        # `u < p` would quietly treat p < 0 as 0, p > 1 as 1 and NaN as 0; torch rejects them.
        lo, hi = builtins.float(input.detach().amin()), builtins.float(input.detach().amax())
        if not (0.0 <= lo and hi <= 1.0):
            raise ValueError(f"bernoulli: expected all probabilities in [0, 1], but got values in [{lo}, {hi}]")
    u = rand(input.shape, generator=generator, dtype=input.dtype, device=input.device)
    return (u < input).to(input.dtype)


def rand_like(t, *, dtype=None, device=None, generator=None, requires_grad=False) -> Tensor:
    d, dev = _like(t, dtype, device)
    return rand(t.shape, generator=generator, dtype=d, device=dev, requires_grad=requires_grad)


def randn_like(t, *, dtype=None, device=None, generator=None, requires_grad=False) -> Tensor:
    d, dev = _like(t, dtype, device)
    return randn(t.shape, generator=generator, dtype=d, device=dev, requires_grad=requires_grad)


def randint_like(t, low=0, high=None, *, dtype=None, device=None, generator=None) -> Tensor:
    d, dev = _like(t, dtype, device)
    return randint(low, high, t.shape, generator=generator, dtype=d, device=dev)
