"""ember: a small, fast deep-learning library with a torch-like API over its own C++/CUDA kernels."""
from __future__ import annotations

import builtins as _builtins

from . import _C
from ._device import device
from ._dtype import (bfloat16, bool, double, dtype, float, float16, float32, float64, get_default_dtype,
                     half, int, int32, int64, long, promote_types, set_default_dtype, uint8)
from .tensor import Size, Tensor
from . import autograd
from .autograd import enable_grad, inference_mode, no_grad, set_grad_enabled, is_grad_enabled
from .creation import (arange, as_tensor, bernoulli, empty, empty_like, eye, from_dlpack, from_numpy, full,
                       full_like, linspace, logspace, normal, ones, ones_like, rand, rand_like, randint,
                       randint_like, randn, randn_like, randperm, scalar_tensor, tensor, zeros, zeros_like)
from .random import Generator, get_rng_state, initial_seed, manual_seed, seed, set_rng_state
from . import _tensor_methods  # noqa: F401  (installs Tensor methods and operators)
from ._functions.elementwise import (abs, absolute, add, allclose, atan2, bitwise_and, bitwise_not, bitwise_or,
                                     bitwise_xor, ceil, clamp, clamp_max, clamp_min, clip, cos, div, divide,
                                     eq, equal, erf, exp, exp2, expm1, fix, floor, floor_divide, fmax, fmin,
                                     fmod, frac, ge, greater, greater_equal, gt, isclose, isfinite, isinf, isnan,
                                     le, lerp, less, less_equal, log, log1p, log2, logical_and, logical_not,
                                     logical_or, logical_xor, lt, maximum, minimum, mul, multiply, ne, neg,
                                     negative, not_equal, pow, reciprocal, relu, remainder, round, rsqrt,
                                     rsub, sigmoid, sign, sgn, sin, sqrt, square, sub, subtract, tanh,
                                     true_divide, trunc, where)
from ._functions.reduce import (all, amax, amin, any, argmax, argmin, count_nonzero, cumsum, logsumexp, max,
                                mean, min, norm, prod, return_types, std, std_mean, sum, var, var_mean)
from ._functions.shape import (expand, flatten, permute, ravel, reshape, squeeze, swapaxes, swapdims, t,
                               transpose, unflatten, unsqueeze, view_as)
from ._functions.shape import (chunk, diagonal, moveaxis, movedim, narrow, select, split, tensor_split, unbind)
from ._functions.copying import (cat, concat, concatenate, flip, fliplr, flipud, hstack, roll, stack, tile, tril,
                                 triu, vstack)
from ._functions.indexing import (argwhere, gather, index_add, index_put, index_select, masked_fill, masked_select,
                                  nonzero, scatter, scatter_add, take)
from ._functions.linalg import addmm, bmm, dot, ger, matmul, mm, mv, outer
from . import backends, cuda
from . import functional, nn  # noqa: F401  (ember.nn.functional)

__version__ = "0.1.0"

get_num_threads = _C.get_num_threads


def set_num_threads(n: int) -> None:
    """Threads used by ember's CPU kernels (like torch.set_num_threads)."""
    if isinstance(n, _builtins.bool) or not isinstance(n, _builtins.int):
        raise TypeError(f"set_num_threads expects an int, got {type(n).__name__}")
    _C.set_num_threads(n)


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def numel(t) -> int:
    return t.numel()


def result_type(a, b) -> dtype:
    from ._dtype import from_code
    return from_code(_C.result_type(a._c if isinstance(a, Tensor) else a, b._c if isinstance(b, Tensor) else b))

from .io import load, save  # noqa: E402  (checkpoints: safetensors, no pickle)
from . import optim, utils  # noqa: E402
from . import datasets  # noqa: E402
