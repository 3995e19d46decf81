"""Attaches the op library to ember.Tensor as methods and Python operators (x + y, x[i], ...)."""
from __future__ import annotations

from ._functions import elementwise as ew
from ._functions import linalg as la
from ._functions import reduce as rd
from ._functions import shape as sh
from ._functions import copying as cp
from ._functions import indexing as ix
from .tensor import Tensor


def _reflect(fn):
    return lambda self, other: fn(other, self)


def _install():
    T = Tensor
    # arithmetic operators
    # The functions themselves, not lambdas around them: one Python call less per operator.
    T.__add__ = T.__radd__ = ew.add
    T.__sub__ = ew.sub
    T.__rsub__ = ew.rsub
    T.__mul__ = T.__rmul__ = ew.mul
    T.__truediv__ = ew.div
    T.__rtruediv__ = lambda self, other: ew.div(_as_operand(other, self), self)
    T.__floordiv__ = lambda self, other: ew.floor_divide(self, other)
    T.__rfloordiv__ = lambda self, other: ew.floor_divide(_as_operand(other, self), self)
    T.__mod__ = lambda self, other: ew.remainder(self, other)
    T.__rmod__ = lambda self, other: ew.remainder(_as_operand(other, self), self)
    T.__pow__ = lambda self, other: ew.pow(self, other)
    T.__rpow__ = lambda self, other: ew.pow(_as_operand(other, self), self)
    T.__matmul__ = lambda self, other: la.matmul(self, other)
    T.__rmatmul__ = lambda self, other: la.matmul(other, self)
    T.__neg__ = ew.neg
    T.__pos__ = lambda self: self
    T.__abs__ = lambda self: ew.abs(self)
    T.__invert__ = lambda self: ew.bitwise_not(self) if self.dtype.name != "bool" else ew.logical_not(self)
    T.__and__ = lambda self, other: ew.bitwise_and(self, other)
    T.__or__ = lambda self, other: ew.bitwise_or(self, other)
    T.__xor__ = lambda self, other: ew.bitwise_xor(self, other)
    T.__rand__ = T.__and__
    T.__ror__ = T.__or__
    T.__rxor__ = T.__xor__
    # in-place operators
    T.__iadd__ = lambda self, other: ew.add_(self, other)
    T.__isub__ = lambda self, other: ew.sub_(self, other)
    T.__imul__ = lambda self, other: ew.mul_(self, other)
    T.__itruediv__ = lambda self, other: ew.div_(self, other)
    T.__ipow__ = lambda self, other: ew.pow_(self, other)
    T.__ifloordiv__ = lambda self, other: ew.floor_divide_(self, other)
    T.__imod__ = lambda self, other: ew.remainder_(self, other)
    T.__iand__ = lambda self, other: ew.bitwise_and_(self, other)
    T.__ior__ = lambda self, other: ew.bitwise_or_(self, other)
    T.__ixor__ = lambda self, other: ew.bitwise_xor_(self, other)
    # comparisons
    T.__eq__ = lambda self, other: ew.eq(self, other) if _comparable(other) else NotImplemented
    T.__ne__ = lambda self, other: ew.ne(self, other) if _comparable(other) else NotImplemented
    T.__lt__ = lambda self, other: ew.lt(self, other)
    T.__le__ = lambda self, other: ew.le(self, other)
    T.__gt__ = lambda self, other: ew.gt(self, other)
    T.__ge__ = lambda self, other: ew.ge(self, other)
    T.__hash__ = object.__hash__
    # indexing
    T.__getitem__ = lambda self, key: ix.getitem(self, key)
    T.__setitem__ = lambda self, key, value: ix.setitem(self, key, value)

    methods = {
        # elementwise
        "add": ew.add, "sub": ew.sub, "mul": ew.mul, "div": ew.div, "true_divide": ew.div, "pow": ew.pow,
        "subtract": ew.sub, "multiply": ew.mul, "divide": ew.div,
        "maximum": ew.maximum, "minimum": ew.minimum, "fmax": ew.fmax, "fmin": ew.fmin, "atan2": ew.atan2,
        "eq": ew.eq, "ne": ew.ne, "lt": ew.lt, "le": ew.le, "gt": ew.gt, "ge": ew.ge,
        "greater": ew.gt, "less": ew.lt, "greater_equal": ew.ge, "less_equal": ew.le, "not_equal": ew.ne,
        "logical_and": ew.logical_and, "logical_or": ew.logical_or, "logical_xor": ew.logical_xor,
        "logical_not": ew.logical_not, "bitwise_and": ew.bitwise_and, "bitwise_or": ew.bitwise_or,
        "bitwise_xor": ew.bitwise_xor, "bitwise_not": ew.bitwise_not,
        "floor_divide": ew.floor_divide, "remainder": ew.remainder, "fmod": ew.fmod,
        "neg": ew.neg, "negative": ew.neg, "exp": ew.exp, "exp2": ew.exp2, "log": ew.log, "log2": ew.log2,
        "log1p": ew.log1p, "expm1": ew.expm1, "sqrt": ew.sqrt, "rsqrt": ew.rsqrt, "abs": ew.abs,
        "absolute": ew.abs, "sign": ew.sign, "sgn": ew.sign, "sin": ew.sin, "cos": ew.cos, "tanh": ew.tanh,
        "sigmoid": ew.sigmoid, "relu": ew.relu, "floor": ew.floor, "ceil": ew.ceil, "round": ew.round,
        "trunc": ew.trunc, "frac": ew.frac, "reciprocal": ew.reciprocal, "square": ew.square, "erf": ew.erf,
        "isnan": ew.isnan, "isinf": ew.isinf, "isfinite": ew.isfinite, "clamp": ew.clamp, "clip": ew.clamp,
        "clamp_min": ew.clamp_min, "clamp_max": ew.clamp_max, "lerp": ew.lerp,
        "where": lambda self, condition, other: ew.where(condition, self, other),
        "isclose": ew.isclose, "allclose": ew.allclose, "equal": ew.equal,
        # in-place
        "add_": ew.add_, "sub_": ew.sub_, "mul_": ew.mul_, "div_": ew.div_, "pow_": ew.pow_,
        "clamp_": ew.clamp_, "clip_": ew.clamp_, "lerp_": ew.lerp_,
        "neg_": ew.neg_, "exp_": ew.exp_, "log_": ew.log_, "log1p_": ew.log1p_, "expm1_": ew.expm1_,
        "sqrt_": ew.sqrt_, "rsqrt_": ew.rsqrt_, "abs_": ew.abs_, "sign_": ew.sign_, "sin_": ew.sin_,
        "cos_": ew.cos_, "tanh_": ew.tanh_, "sigmoid_": ew.sigmoid_, "relu_": ew.relu_, "floor_": ew.floor_,
        "ceil_": ew.ceil_, "round_": ew.round_, "trunc_": ew.trunc_, "reciprocal_": ew.reciprocal_,
        "square_": ew.square_, "erf_": ew.erf_, "frac_": ew.frac_,
        # linear algebra
        "matmul": la.matmul, "mm": la.mm, "bmm": la.bmm, "addmm": la.addmm, "dot": la.dot, "mv": la.mv,
        "outer": la.outer,
        # reductions
        "sum": rd.sum, "mean": rd.mean, "all": rd.all, "any": rd.any,
        "prod": rd.prod, "max": rd.max, "min": rd.min, "amax": rd.amax, "amin": rd.amin, "argmax": rd.argmax,
        "argmin": rd.argmin, "var": rd.var, "std": rd.std, "norm": rd.norm, "logsumexp": rd.logsumexp,
        "cumsum": rd.cumsum, "count_nonzero": rd.count_nonzero,
        # shape
        "view": sh.view, "view_as": sh.view_as, "reshape": sh.reshape, "reshape_as": sh.reshape_as,
        "permute": sh.permute, "transpose": sh.transpose, "swapaxes": sh.transpose, "swapdims": sh.transpose,
        "t": sh.t, "expand": sh.expand, "expand_as": sh.expand_as, "unsqueeze": sh.unsqueeze,
        "squeeze": sh.squeeze, "flatten": sh.flatten, "unflatten": sh.unflatten, "ravel": sh.ravel,
        "narrow": sh.narrow, "select": sh.select, "split": sh.split, "split_with_sizes": sh.split_with_sizes,
        "chunk": sh.chunk, "tensor_split": sh.tensor_split, "unbind": sh.unbind, "movedim": sh.movedim,
        "moveaxis": sh.movedim, "diagonal": sh.diagonal, "unfold": sh.unfold,
        # copying shape ops
        "flip": cp.flip, "fliplr": cp.fliplr, "flipud": cp.flipud, "roll": cp.roll, "repeat": cp.repeat,
        "tile": cp.tile, "tril": cp.tril, "triu": cp.triu, "tril_": cp.tril_, "triu_": cp.triu_,
        # indexing
        "gather": ix.gather, "scatter": ix.scatter, "scatter_": ix.scatter_, "scatter_add": ix.scatter_add,
        "scatter_add_": ix.scatter_add_, "index_select": ix.index_select, "index_add": ix.index_add,
        "index_add_": ix.index_add_, "index_put": ix.index_put, "index_put_": ix.index_put_,
        "masked_fill": ix.masked_fill, "masked_fill_": ix.masked_fill_, "masked_select": ix.masked_select,
        "nonzero": ix.nonzero, "argwhere": ix.argwhere, "take": ix.take, "put": ix.put, "put_": ix.put_,
    }
    for name, fn in methods.items():
        setattr(T, name, fn)
    T.T = property(lambda self: sh.permute(self, tuple(range(self.dim() - 1, -1, -1))))
    T.mT = property(lambda self: sh.transpose(self, -2, -1))


def _as_operand(x, ref):
    """A number on the left of a reflected op becomes a 0-d tensor so that the op is well-typed."""
    from .creation import full
    from . import _dtype as dt
    return full((), x, dtype=dt.promote_types(ref.dtype, dt.result_type_of_python_scalar(x))
                if ref.dtype.is_floating_point or not isinstance(x, float) else dt.get_default_dtype(),
                device=ref.device)


def _comparable(other):
    import numbers
    return isinstance(other, (Tensor, numbers.Number))


def _zero_(self):
    ew._check_inplace(self)
    self._c.fill_(0)
    return self


def _fill_(self, value):
    ew._check_inplace(self)
    if isinstance(value, Tensor):
        value = value.item()
    self._c.fill_(value)
    return self


def _copy_(self, src, non_blocking=False):
    ew._check_inplace(self)
    from .creation import tensor
    if not isinstance(src, Tensor):
        src = tensor(src)
    if ew._state.enabled and (self._requires_grad or src._requires_grad):
        from ._functions import indexing as ix
        ix.setitem(self, Ellipsis, src)  # records the copy so gradients flow to src
        return self
    self._c.copy_(src._c)
    return self


Tensor.zero_ = _zero_
Tensor.fill_ = _fill_
Tensor.copy_ = _copy_
_install()
