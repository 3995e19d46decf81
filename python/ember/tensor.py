"""ember.Tensor: a thin Python handle on the C++ tensor (_C.TensorImpl) plus autograd state.

Math methods delegate to ember.functional / the autograd Functions; this file holds what every
tensor needs: attributes, conversions, NumPy/DLPack interop and printing.
"""
from __future__ import annotations

import builtins

import numpy as np

from . import _C
from . import _dtype as dt
from ._device import CPU, device, from_codes, to_device

__all__ = ["Tensor", "Size"]
_new = object.__new__


class Size(tuple):
    """torch.Size: a tuple of ints with numel()."""

    __slots__ = ()

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    def __repr__(self):
        return f"ember.Size([{', '.join(map(str, self))}])"


class Tensor:
    """An n-dimensional array on a device, with reverse-mode autograd.

    Create tensors with ``ember.tensor``, ``ember.zeros`` and friends rather than this class.
    """

    __slots__ = ("_c", "_requires_grad", "grad", "grad_fn", "_output_nr", "_retains_grad",
                 "_hooks", "_base", "__weakref__")
    __array_priority__ = 1000  # make ndarray <op> Tensor defer to Tensor's reflected operators

    # ---- construction -------------------------------------------------------------------
    def __init__(self, *args, **kwargs):
        raise TypeError("use ember.tensor(data), ember.empty(shape) or ember.zeros(shape) to create tensors")

    @classmethod
    def _wrap(cls, c, requires_grad=False):
        t = _new(cls)
        t._c = c
        t._requires_grad = requires_grad
        t.grad = None
        t.grad_fn = None
        t._output_nr = 0
        t._retains_grad = False
        t._hooks = None
        t._base = None
        return t

    # ---- attributes ---------------------------------------------------------------------
    @property
    def shape(self) -> Size:
        return Size(self._c.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._c.shape)
        return self._c.shape[self._wrap_dim(dim)]

    def stride(self, dim=None):
        if dim is None:
            return self._c.strides
        return self._c.strides[self._wrap_dim(dim)]

    def storage_offset(self) -> int:
        return self._c.offset

    def dim(self) -> int:
        return self._c.ndim

    ndim = property(dim)

    def ndimension(self) -> int:
        return self._c.ndim

    def numel(self) -> int:
        return self._c.numel

    nelement = numel

    def element_size(self) -> int:
        return self._c.itemsize

    @property
    def itemsize(self) -> int:
        return self._c.itemsize

    @property
    def nbytes(self) -> int:
        return self._c.numel * self._c.itemsize

    @property
    def dtype(self) -> dt.dtype:
        return dt._BY_CODE[self._c.dtype]

    @property
    def device(self) -> device:
        return from_codes(self._c.device_type, self._c.device_index)

    @property
    def is_cuda(self) -> bool:
        return self._c.device_type == 1

    @property
    def is_cpu(self) -> bool:
        return self._c.device_type == 0

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    def is_contiguous(self, memory_format=None) -> bool:
        return self._c.is_contiguous()

    def data_ptr(self) -> int:
        return self._c.data_ptr

    def untyped_storage_ptr(self) -> int:
        return self._c.storage_ptr

    @property
    def _version(self) -> int:
        return self._c.version

    def _wrap_dim(self, dim):
        n = max(self._c.ndim, 1)
        if not isinstance(dim, int):
            raise TypeError(f"dim must be an int, got {type(dim).__name__}")
        if dim < -n or dim >= n:
            raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
        return dim % n

    # ---- autograd attributes -------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad=True):
        if self.grad_fn is not None and not requires_grad:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a computed "
                "variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach().")
        if requires_grad and not (self.dtype.is_floating_point):
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients, got {self.dtype}")
        self._requires_grad = builtins.bool(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def data(self) -> "Tensor":
        return Tensor._wrap(self._c)

    @data.setter
    def data(self, other):
        if not isinstance(other, Tensor):
            raise TypeError(f"data must be a Tensor, got {type(other).__name__}")
        self._c = other._c

    def detach(self) -> "Tensor":
        return Tensor._wrap(self._c)

    def detach_(self) -> "Tensor":
        self.grad_fn = None
        self._requires_grad = False
        return self

    # ---- conversions ---------------------------------------------------------------------
    def to(self, *args, **kwargs) -> "Tensor":
        """to(dtype) / to(device) / to(device, dtype) / to(other); returns self when nothing changes."""
        dtype_, device_, copy = _parse_to_args(self, args, kwargs)
        if not copy and dtype_ is self.dtype and device_ == self.device:
            return self
        from . import autograd
        return autograd.to_copy(self, dtype_, device_)

    def type(self, dtype=None):
        if dtype is None:
            return f"ember.{self.dtype.name}"
        return self.to(dt.to_dtype(dtype))

    def float(self): return self.to(dt.float32)
    def double(self): return self.to(dt.float64)
    def half(self): return self.to(dt.float16)
    def long(self): return self.to(dt.int64)
    def int(self): return self.to(dt.int32)
    def bool(self): return self.to(dt.bool)
    def byte(self): return self.to(dt.uint8)

    def cpu(self) -> "Tensor":
        return self.to(CPU)

    def cuda(self, device=None, non_blocking=False) -> "Tensor":
        return self.to(f"cuda:{device}" if isinstance(device, builtins.int) else (device or "cuda"),
                       non_blocking=non_blocking)

    def contiguous(self, memory_format=None) -> "Tensor":
        if self._c.is_contiguous():
            return self
        from . import autograd
        return autograd.contiguous(self)

    def clone(self, memory_format=None) -> "Tensor":
        from . import autograd
        return autograd.clone(self)

    def item(self):
        return self._c.item()

    def tolist(self):
        if self._c.ndim == 0:
            return self.item()
        return self.cpu()._numpy_view().tolist()

    def __len__(self):
        if self._c.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._c.shape[0]

    def __iter__(self):
        # Without this, Python's sequence fallback would iterate a 0-d tensor as empty, silently.
        if self._c.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._c.shape[0]))

    def __bool__(self):
        if self._c.numel != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self._c.numel} elements is ambiguous")
        return builtins.bool(self.item())

    def __float__(self): return builtins.float(self.item())
    def __int__(self): return builtins.int(self.item())

    def __index__(self):
        if self.dtype.is_floating_point or self._c.numel != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return builtins.int(self.item())

    def __hash__(self):
        return id(self)

    # ---- NumPy and DLPack ---------------------------------------------------------------
    def _numpy_view(self) -> np.ndarray:
        return _C.to_numpy(self._c)

    def numpy(self, *, force=False) -> np.ndarray:
        """A NumPy view of a CPU tensor (shared memory, strides included)."""
        if force:
            t = self.detach().cpu()
            return _C.to_numpy(t._c)
        if self._requires_grad or self.grad_fn is not None:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return _C.to_numpy(self._c)

    def __array__(self, dtype=None, copy=None):
        a = self.detach().cpu()._numpy_view()
        if dtype is not None and np.dtype(dtype) != a.dtype:
            return a.astype(dtype)
        if copy:
            return a.copy()
        return a

    def __dlpack__(self, stream=None, *, max_version=None, dl_device=None, copy=None):
        if self._requires_grad:
            raise RuntimeError("Can't export tensors that require gradient, use tensor.detach()")
        if copy:
            return self.clone().__dlpack__(stream, max_version=max_version)
        # A versioned (DLPack 1.0) capsule when the consumer understands it: legacy ones are read-only.
        versioned = max_version is not None and max_version[0] >= 1
        return _C.to_dlpack(self._c, versioned)

    def __dlpack_device__(self):
        return (1, 0) if self._c.device_type == 0 else (2, self._c.device_index)

    # ---- printing ----------------------------------------------------------------------
    def __repr__(self):
        return _format_tensor(self)

    __str__ = __repr__


def _parse_to_args(t, args, kwargs):
    dtype_ = kwargs.pop("dtype", None)
    device_ = kwargs.pop("device", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            dtype_, device_ = a.dtype, a.device
        elif isinstance(a, dt.dtype):
            dtype_ = a
        elif isinstance(a, (str, device)):
            device_ = a
        elif isinstance(a, builtins.bool):
            pass  # non_blocking positional
        else:
            raise TypeError(f"to() received an invalid argument {a!r}")
    dtype_ = t.dtype if dtype_ is None else dt.to_dtype(dtype_)
    device_ = t.device if device_ is None else to_device(device_)
    return dtype_, device_, copy


def _format_tensor(t: Tensor) -> str:
    prefix = "tensor("
    c = t.detach().cpu()
    if c.dtype in (dt.float16, dt.bfloat16):
        c = c.float()
    a = c._numpy_view()
    suffix = []
    if t.device.type != "cpu":
        suffix.append(f"device='{t.device}'")
    if a.size == 0:
        body = "[]" if a.ndim == 1 else f"[], size={tuple(a.shape)}"
    else:
        kwargs = dict(separator=", ", prefix=prefix, threshold=1000, edgeitems=3, max_line_width=80)
        if a.dtype.kind == "f":
            finite = a[np.isfinite(a)]
            integral = finite.size == 0 or np.all(finite == np.round(finite))
            big = finite.size and (np.abs(finite).max() >= 1e8 or (np.abs(finite[finite != 0]).min(initial=1) < 1e-4))
            if big:
                kwargs.update(precision=4, floatmode="fixed", formatter={"float_kind": lambda x: f"{x:.4e}"})
            elif integral:
                # torch prints whole numbers as "3." but non-finite values as "nan" and "inf".
                kwargs.update(precision=0, floatmode="fixed",
                              formatter={"float_kind": lambda x: f"{x:.0f}." if np.isfinite(x) else f"{x}"})
            else:
                kwargs.update(precision=4, floatmode="fixed")
        elif a.dtype == np.bool_:
            kwargs.update(formatter={"bool": lambda x: "True" if x else "False"})
        body = np.array2string(a, **kwargs)
    default_dtypes = (dt.get_default_dtype(), dt.int64, dt.bool)
    if t.dtype not in default_dtypes or (a.size == 0 and t.dtype is not dt.get_default_dtype()):
        suffix.append(f"dtype=ember.{t.dtype.name}")
    if t.grad_fn is not None:
        suffix.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffix.append("requires_grad=True")
    return prefix + body + "".join(", " + s for s in suffix) + ")"
