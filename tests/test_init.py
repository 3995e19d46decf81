"""nn.init: each initialiser's distribution (bounds and moments), fan and gain computations,
orthogonality, and reproducibility under ember.manual_seed / generator=."""
import math

import numpy as np
import pytest

import ember
import ember.nn as nn
from ember.nn import init


def _np(t):
    return t.detach().numpy().astype(np.float64)


def test_calculate_gain_matches_torch_table():
    assert init.calculate_gain("linear") == 1
    assert init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5.0 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2.0))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2.0 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(2.0 / 6))
    assert init.calculate_gain("selu") == pytest.approx(0.75)
    with pytest.raises(ValueError, match="Unsupported nonlinearity foo"):
        init.calculate_gain("foo")
    with pytest.raises(ValueError, match="negative_slope"):
        init.calculate_gain("leaky_relu", "x")


def test_fan_in_and_fan_out_include_the_receptive_field():
    assert init._calculate_fan_in_and_fan_out(ember.empty(5, 3)) == (3, 5)
    assert init._calculate_fan_in_and_fan_out(ember.empty(8, 4, 3, 2)) == (24, 48)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(ember.empty(5))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(ember.empty(3, 3), mode="fan_avg")


def test_uniform_and_normal_moments():
    ember.manual_seed(0)
    u = _np(init.uniform_(ember.empty(200, 200), -2.0, 3.0))
    assert u.min() >= -2.0 and u.max() <= 3.0
    assert u.mean() == pytest.approx(0.5, abs=0.03)
    assert u.var() == pytest.approx(25 / 12, rel=0.03)
    n = _np(init.normal_(ember.empty(200, 200), mean=1.5, std=0.5))
    assert n.mean() == pytest.approx(1.5, abs=0.01)
    assert n.std() == pytest.approx(0.5, rel=0.02)


def test_constant_ones_zeros_eye():
    t = ember.empty(3, 4)
    assert (_np(init.constant_(t, 0.25)) == 0.25).all()
    assert (_np(init.ones_(t)) == 1).all()
    assert (_np(init.zeros_(t)) == 0).all()
    np.testing.assert_array_equal(_np(init.eye_(t)), np.eye(3, 4))
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions are supported"):
        init.eye_(ember.empty(2, 2, 2))


def test_dirac_keeps_identity_at_the_kernel_centre():
    w = _np(init.dirac_(ember.empty(4, 4, 3, 3)))
    expect = np.zeros((4, 4, 3, 3))
    for i in range(4):
        expect[i, i, 1, 1] = 1
    np.testing.assert_array_equal(w, expect)
    w = _np(init.dirac_(ember.empty(4, 2, 3), groups=2))
    assert w.sum() == 4 and w[2, 0, 1] == 1 and w[1, 1, 1] == 1


def test_xavier_bounds_and_std():
    ember.manual_seed(1)
    fan_in, fan_out = 300, 200
    w = _np(init.xavier_uniform_(ember.empty(fan_out, fan_in), gain=2.0))
    bound = 2.0 * math.sqrt(6.0 / (fan_in + fan_out))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.98 * bound
    w = _np(init.xavier_normal_(ember.empty(fan_out, fan_in)))
    assert w.std() == pytest.approx(math.sqrt(2.0 / (fan_in + fan_out)), rel=0.02)


@pytest.mark.parametrize("mode,nonlinearity", [("fan_in", "relu"), ("fan_out", "leaky_relu"), ("fan_in", "tanh")])
def test_kaiming_uniform_and_normal(mode, nonlinearity):
    ember.manual_seed(2)
    shape = (64, 32, 3, 3)
    fan = 32 * 9 if mode == "fan_in" else 64 * 9
    std = init.calculate_gain(nonlinearity, 0) / math.sqrt(fan)
    w = _np(init.kaiming_uniform_(ember.empty(*shape), mode=mode, nonlinearity=nonlinearity))
    assert np.abs(w).max() <= math.sqrt(3) * std + 1e-7
    assert w.std() == pytest.approx(std, rel=0.03)
    w = _np(init.kaiming_normal_(ember.empty(*shape), mode=mode, nonlinearity=nonlinearity))
    assert w.mean() == pytest.approx(0.0, abs=0.05 * std)
    assert w.std() == pytest.approx(std, rel=0.03)


def test_kaiming_uniform_default_a_sqrt5_gives_torch_linear_bound():
    w = _np(init.kaiming_uniform_(ember.empty(50, 400), a=math.sqrt(5)))
    assert np.abs(w).max() <= 1 / math.sqrt(400) + 1e-7
    assert np.abs(w).max() > 0.98 / math.sqrt(400)


def test_kaiming_on_zero_element_tensor_warns_and_is_a_no_op():
    with pytest.warns(UserWarning, match="no-op"):
        init.kaiming_uniform_(ember.empty(0, 3))


@pytest.mark.parametrize("shape", [(6, 6), (4, 10), (10, 4), (8, 2, 3, 3)])
def test_orthogonal_rows_or_columns_are_orthonormal(shape):
    ember.manual_seed(3)
    w = _np(init.orthogonal_(ember.empty(*shape), gain=1.0))
    q = w.reshape(shape[0], -1)
    if q.shape[0] <= q.shape[1]:
        np.testing.assert_allclose(q @ q.T, np.eye(q.shape[0]), atol=1e-5)
    else:
        np.testing.assert_allclose(q.T @ q, np.eye(q.shape[1]), atol=1e-5)
    g = _np(init.orthogonal_(ember.empty(5, 5), gain=3.0))
    np.testing.assert_allclose(g.T @ g, 9 * np.eye(5), atol=1e-4)
    with pytest.raises(ValueError, match="2 or more dimensions"):
        init.orthogonal_(ember.empty(5))


def test_trunc_normal_respects_bounds_and_moments():
    ember.manual_seed(4)
    w = _np(init.trunc_normal_(ember.empty(300, 300), mean=0.0, std=1.0, a=-2.0, b=2.0))
    assert w.min() >= -2.0 and w.max() <= 2.0
    assert w.mean() == pytest.approx(0.0, abs=0.01)
    # variance of N(0,1) truncated to [-2, 2]
    phi = math.exp(-2) / math.sqrt(2 * math.pi)
    z = math.erf(2 / math.sqrt(2))
    assert w.var() == pytest.approx(1 - 2 * 2 * phi / z, rel=0.02)
    w = _np(init.trunc_normal_(ember.empty(1000), mean=1.0, std=0.02, a=0.97, b=1.5))
    assert w.min() >= 0.97 and w.max() <= 1.5


def test_sparse_zeroes_a_fraction_of_each_column():
    w = _np(init.sparse_(ember.empty(10, 6), sparsity=0.3, std=0.5))
    assert ((w == 0).sum(axis=0) >= 3).all()


@pytest.mark.parametrize("fn,kwargs", [
    (init.uniform_, {}), (init.normal_, {}), (init.trunc_normal_, {}), (init.xavier_uniform_, {}),
    (init.xavier_normal_, {}), (init.kaiming_uniform_, {}), (init.kaiming_normal_, {}), (init.orthogonal_, {}),
])
def test_reproducible_under_manual_seed_and_generator(fn, kwargs):
    ember.manual_seed(123)
    a = _np(fn(ember.empty(7, 5), **kwargs))
    ember.manual_seed(123)
    b = _np(fn(ember.empty(7, 5), **kwargs))
    np.testing.assert_array_equal(a, b)
    g1 = ember.Generator().manual_seed(9)
    g2 = ember.Generator().manual_seed(9)
    c = _np(fn(ember.empty(7, 5), generator=g1, **kwargs))
    d = _np(fn(ember.empty(7, 5), generator=g2, **kwargs))
    np.testing.assert_array_equal(c, d)
    assert not np.array_equal(a, c)


def test_init_works_on_parameters_without_recording_a_graph():
    p = nn.Parameter(ember.empty(4, 3))
    out = init.kaiming_uniform_(p, a=math.sqrt(5))
    assert out is p
    assert p.is_leaf and p.grad_fn is None and p.requires_grad
    init.zeros_(p)
    assert (_np(p) == 0).all()


def test_init_keeps_float64_dtype():
    w = init.normal_(ember.empty(3, 3, dtype=ember.float64))
    assert w.dtype == ember.float64
