"""Matrix products (matmul, mm, bmm, addmm, linear) on ember's GEMM, with gradients that never
materialise a transpose: the kernels read transposed operands through their strides."""
from __future__ import annotations

from .. import _C
from ..autograd import Function, _state
from ..tensor import Tensor
from .elementwise import relu_backward, sigmoid_backward, sum_to, tanh_backward
from .shape import reshape, squeeze, transpose, unsqueeze

_wrap = Tensor._wrap
# Activation codes of _C.linear / _C.linear_backward (LinearActivation in csrc/ops/linalg.h).
ACT_NONE, ACT_RELU, ACT_TANH, ACT_SIGMOID = 0, 1, 2, 3
ACTIVATIONS = {None: ACT_NONE, "relu": ACT_RELU, "tanh": ACT_TANH, "sigmoid": ACT_SIGMOID}
_ACT_BACKWARD = {ACT_RELU: relu_backward, ACT_TANH: tanh_backward, ACT_SIGMOID: sigmoid_backward}


def _check_tensor(x, name, arg):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument '{arg}' must be Tensor, not {type(x).__name__}")


class MatMul(Function):
    """a (..., M, K) @ b (..., K, N) with broadcast batch dims."""

    _backward_name = "MmBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _wrap(_C.matmul(a._c, b._c))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = sum_to(_matmul_nd(g, transpose(b, -1, -2)), a.shape)
        if ctx.needs_input_grad[1]:
            gb = sum_to(_matmul_nd(transpose(a, -1, -2), g), b.shape)
        return ga, gb


def _matmul_nd(a, b):
    if _state.enabled and (a._requires_grad or b._requires_grad):
        return MatMul.apply(a, b)
    return _wrap(_C.matmul(a._c, b._c))


def matmul(input, other):
    """torch.matmul: 1-D operands are promoted (and the added dim removed), batch dims broadcast."""
    _check_tensor(input, "matmul", "input")
    _check_tensor(other, "matmul", "other")
    da, db = input.dim(), other.dim()
    if da == 0 or db == 0:
        raise ValueError(f"both arguments to matmul need to be at least 1D, but they are {da}D and {db}D")
    if da == 1 and db == 1:
        if input.shape[0] != other.shape[0]:
            raise ValueError(f"inconsistent tensor size, expected tensor [{input.shape[0]}] and src "
                             f"[{other.shape[0]}] to have the same number of elements, but got "
                             f"{input.shape[0]} and {other.shape[0]} elements respectively")
        return reshape(_matmul_nd(unsqueeze(input, 0), unsqueeze(other, 1)), ())
    if da == 1:
        return squeeze(_matmul_nd(unsqueeze(input, 0), other), -2)
    if db == 1:
        return squeeze(_matmul_nd(input, unsqueeze(other, 1)), -1)
    return _matmul_nd(input, other)


def mm(input, mat2):
    _check_tensor(input, "mm", "input")
    _check_tensor(mat2, "mm", "mat2")
    if input.dim() != 2 or mat2.dim() != 2:
        raise ValueError(f"mm: expected 2-D tensors, got {input.dim()}-D and {mat2.dim()}-D")
    return _matmul_nd(input, mat2)


def bmm(input, mat2):
    _check_tensor(input, "bmm", "input")
    _check_tensor(mat2, "bmm", "mat2")
    if input.dim() != 3 or mat2.dim() != 3:
        raise ValueError(f"batch1 must be a 3D tensor and batch2 must be a 3D tensor, got {input.dim()}-D and "
                         f"{mat2.dim()}-D")
    if input.shape[0] != mat2.shape[0]:
        raise ValueError(f"bmm: batch sizes differ ({input.shape[0]} and {mat2.shape[0]})")
    return _matmul_nd(input, mat2)


def dot(input, other):
    if input.dim() != 1 or other.dim() != 1:
        raise ValueError(f"1D tensors expected, but got {input.dim()}D and {other.dim()}D tensors")
    return matmul(input, other)


def mv(input, vec):
    if input.dim() != 2 or vec.dim() != 1:
        raise ValueError(f"vector + matrix @ vector expected, got {input.dim()}, {vec.dim()}")
    return matmul(input, vec)


def outer(input, vec2):
    # Without this check, 2-D inputs would silently broadcast into a 3-D result.
    for name, v in (("self", input), ("vec2", vec2)):
        if v.dim() != 1:
            raise ValueError(f"outer: Expected 1-D argument {name}, but got {v.dim()}-D (shape {list(v.shape)})")
    return unsqueeze(input, 1) * unsqueeze(vec2, 0)


ger = outer


class AddMM(Function):
    @staticmethod
    def forward(ctx, c, a, b, beta, alpha):
        ctx.save_for_backward(a, b)
        ctx.beta, ctx.alpha = beta, alpha
        ctx.c_shape = c.shape
        return _wrap(_C.addmm(c._c, a._c, b._c, beta, alpha))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        gc = ga = gb = None
        if ctx.needs_input_grad[0]:
            gc = sum_to(g * ctx.beta if ctx.beta != 1 else g, ctx.c_shape)
        if ctx.needs_input_grad[1]:
            ga = _matmul_nd(g, transpose(b, 0, 1))
            if ctx.alpha != 1:
                ga = ga * ctx.alpha
        if ctx.needs_input_grad[2]:
            gb = _matmul_nd(transpose(a, 0, 1), g)
            if ctx.alpha != 1:
                gb = gb * ctx.alpha
        return gc, ga, gb, None, None


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """beta * input + alpha * (mat1 @ mat2)."""
    for x, n in ((input, "input"), (mat1, "mat1"), (mat2, "mat2")):
        _check_tensor(x, "addmm", n)
    if _state.enabled and (input._requires_grad or mat1._requires_grad or mat2._requires_grad):
        return AddMM.apply(input, mat1, mat2, beta, alpha)
    return _wrap(_C.addmm(input._c, mat1._c, mat2._c, beta, alpha))


class Linear(Function):
    """y = act(x @ w^T + b): one GEMM with the bias (and ReLU) fused into its epilogue; tanh and
    sigmoid run in place over the output in the same C++ call."""

    _backward_name = "LinearBackward0"

    @staticmethod
    def forward(ctx, x, w, b, act):
        y = _wrap(_C.linear(x._c, w._c, None if b is None else b._c, act))
        ctx.save_for_backward(x, w, y if act else None)
        ctx.act = act
        return y

    @staticmethod
    def backward(ctx, g):
        x, w, y = ctx.saved_tensors
        need = ctx.needs_input_grad
        if not _state.enabled:  # no graph of the backward wanted: one fused C++ call
            dx, dw, db = _C.linear_backward(g._c, x._c, w._c, None if y is None else y._c, ctx.act,
                                            need[0], need[1], need[2])
            return (None if dx is None else _wrap(dx), None if dw is None else _wrap(dw),
                    None if db is None else _wrap(db), None)
        if ctx.act != ACT_NONE:
            g = _ACT_BACKWARD[ctx.act](g, y)
        out_f, in_f = w.shape
        g2 = reshape(g, (-1, out_f))
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = reshape(_matmul_nd(g2, w), x.shape)                      # dX = dY W
        if ctx.needs_input_grad[1]:
            gw = _matmul_nd(transpose(g2, 0, 1), reshape(x, (-1, in_f)))  # dW = dY^T X
        if ctx.needs_input_grad[2]:
            from .reduce import sum as _sum
            gb = _sum(g2, 0)                                             # db = sum of dY rows
        return gx, gw, gb, None


def linear(input, weight, bias=None, *, activation=None):
    """F.linear. ember extension: activation='relu', 'tanh' or 'sigmoid' applies that function to
    the output in the same op (the ReLU inside the GEMM's epilogue): one graph node instead of two,
    with the values of the unfused pair."""
    if not (isinstance(input, Tensor) and isinstance(weight, Tensor)):
        _check_tensor(input, "linear", "input")
        _check_tensor(weight, "linear", "weight")
    act = ACTIVATIONS.get(activation, -1) if activation is None or isinstance(activation, str) else -1
    if act < 0:
        raise ValueError(f"linear: activation must be None, 'relu', 'tanh' or 'sigmoid', got {activation!r}")
    if _state.enabled and (input._requires_grad or weight._requires_grad or
                           (bias is not None and bias._requires_grad)):
        return Linear.apply(input, weight, bias, act)
    return _wrap(_C.linear(input._c, weight._c, None if bias is None else bias._c, act))
