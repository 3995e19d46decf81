"""Bugs found in review, each pinned by the smallest reproducer (torch's answer in comments)."""
import subprocess
import sys

import numpy as np
import pytest

import ember
import ember.nn.functional as F


def _f64(values, grad=True):
    return ember.tensor(values, dtype=ember.float64, requires_grad=grad)


# ---- C++: crashes and wrong numbers ---------------------------------------------------------
def test_int_min_floor_divide_and_remainder_by_minus_one_do_not_trap():
    code = ("import ember; a = ember.tensor([-2**63]); print((a // -1).item(), (a % -1).item(), "
            "(ember.tensor([-2**31], dtype=ember.int32) // -1).item())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(-2**63), "0", str(-2**31)]  # wraps, as torch does


def test_shapes_whose_element_count_overflows_are_rejected():
    with pytest.raises(ValueError, match="64 bits|too large"):
        ember.empty((2**62 + 1, 4))
    with pytest.raises(ValueError, match="64 bits|too large"):
        ember.ones(2).repeat(2**62, 8)
    assert ember.empty((0, 2**62, 2**62)).numel() == 0


def test_as_strided_rejects_offsets_that_overflow():
    x = ember.zeros(4, dtype=ember.uint8)
    with pytest.raises(ValueError, match="overflows"):
        x._c.as_strided((3,), (2**63 + 1 - 2**64,), 0)


def test_matmul_broadcast_batch_with_size_one_dims():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((2, 1, 1, 3, 4)).astype(np.float32)
    B = rng.standard_normal((2, 1, 1, 4, 5)).astype(np.float32)
    a = ember.from_numpy(A).expand(2, 1, 3, 3, 4)
    b = ember.from_numpy(B).expand(2, 1, 3, 4, 5)
    ref = np.broadcast_to(A, (2, 1, 3, 3, 4)) @ np.broadcast_to(B, (2, 1, 3, 4, 5))
    np.testing.assert_allclose((a @ b).numpy(), ref, rtol=1e-5, atol=1e-5)


def test_cross_entropy_with_zero_classes_is_zero():
    assert F.cross_entropy(ember.zeros(3, 0), ember.zeros(3, 0), reduction="none").tolist() == [0.0] * 3


def test_linear_with_zero_in_features_gives_the_bias():
    assert F.linear(ember.zeros(5, 0), ember.zeros(3, 0), ember.ones(3)).tolist() == [[1.0] * 3] * 5


def test_pool_backward_rejects_bad_indices():
    dy, x = ember.ones(1, 1, 2, 2), ember.randn(1, 1, 4, 4)
    with pytest.raises(ValueError, match="indices"):
        ember._C.pool2d_backward(0, dy._c, x._c, None, (2, 2), (2, 2), (0, 0), (1, 1), False, True, 0)
    bad = ember.full((1, 1, 2, 2), 99)
    with pytest.raises(IndexError, match="99"):
        ember._C.pool2d_backward(0, dy._c, x._c, bad._c, (2, 2), (2, 2), (0, 0), (1, 1), False, True, 0)


def test_raw_gather_offsets_are_bounds_checked():
    x = ember.zeros(4)
    with pytest.raises(IndexError, match="outside"):
        ember._C.index_gather(x._c.as_strided((1,), (0,), 0), ember.tensor([10**9])._c)


# ---- autograd semantics -----------------------------------------------------------------------
def test_leaf_grad_does_not_alias_gradients_still_in_flight():
    x = _f64([1.0])
    (x * 3 + (x + x.exp())).backward()
    assert x.grad.item() == pytest.approx(4 + np.e)  # torch: 6.718..., not 4 + 4e


def test_backward_does_not_modify_the_callers_gradient():
    x = _f64([1.0, 2.0])
    gy = ember.ones(2, dtype=ember.float64)
    (x + 0).backward(gy)
    (x * 1).backward(gy)
    assert gy.tolist() == [1.0, 1.0] and x.grad.tolist() == [2.0, 2.0]
    x.grad = None
    x.backward(gy)
    assert x.grad is not gy


def test_set_grad_enabled_as_a_decorator_restores_the_mode():
    @ember.set_grad_enabled(False)
    def f(t):
        return t * 2
    assert ember.is_grad_enabled()
    assert not f(_f64([1.0])).requires_grad
    assert ember.is_grad_enabled()

    @ember.inference_mode(False)
    def g(t):
        return t * 2
    assert g(_f64([1.0])).requires_grad


def test_inplace_on_a_view_with_autograd_is_refused_not_wrong():
    x = _f64([1.0, 2.0])
    y = x * 1
    with pytest.raises(RuntimeError, match="view"):
        y[:1].mul_(3)
    w = _f64([1.0, 2.0])
    with pytest.raises(RuntimeError, match="view of a leaf"):
        w[:1].relu_()


def test_inplace_mul_by_itself_raises_the_version_error():
    x = _f64([1.0, 2.0])
    y = x * 1
    y.mul_(y)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_leaf_hooks_see_the_total_gradient_once():
    calls = []
    x = _f64([3.0])
    x.register_hook(lambda g: calls.append(1) or g.clamp(max=1))
    (x * x).sum().backward()
    assert x.grad.item() == 1.0 and len(calls) == 1
    z = _f64([1.0, 1.0])
    z.register_hook(lambda g: g * 10)
    (gz,) = ember.autograd.grad((z * 2).sum(), z)
    assert gz.tolist() == [20.0, 20.0]


def test_leaf_grad_keeps_the_leaf_dtype():
    x = ember.ones(2, requires_grad=True)
    (x * ember.ones(2, dtype=ember.float64)).sum().backward()
    assert x.grad.dtype is ember.float32


def test_number_minus_unsigned_tensor():
    out = 2.5 - ember.tensor([0, 1, 2, 5], dtype=ember.uint8)
    assert out.tolist() == [2.5, 1.5, 0.5, -2.5]


def test_copy_into_a_tensor_records_autograd():
    x = _f64([1.0, 2.0])
    a = ember.zeros(2, dtype=ember.float64)
    a.copy_(x * 2)
    a.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]
