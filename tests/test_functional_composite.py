"""The composite F functions (ember/_functional_composite.py) and the nn modules that call them:
values against float64 NumPy references, gradients by gradcheck."""
import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from helpers import check_op


def test_embedding_looks_up_rows_and_skips_padding_gradient(rng):
    w = ember.tensor(rng.standard_normal((7, 3)), dtype=ember.float64, requires_grad=True)
    idx = ember.tensor([[0, 2, 6], [2, 2, 1]])
    out = F.embedding(idx, w, padding_idx=2)
    np.testing.assert_array_equal(out.detach().numpy(), w.detach().numpy()[idx.numpy()])
    out.sum().backward()
    want = np.zeros((7, 3))
    for i in (0, 6, 1):
        want[i] += 1
    np.testing.assert_array_equal(w.grad.numpy(), want)  # row 2 (padding) gets nothing
    with pytest.raises(IndexError):
        F.embedding(ember.tensor([7]), w)
    with pytest.raises(TypeError, match="integer"):
        F.embedding(ember.tensor([0.0]), w)


def test_embedding_module():
    emb = nn.Embedding(10, 4, padding_idx=0)
    out = emb(ember.tensor([[0, 3, 9]]))
    assert tuple(out.shape) == (1, 3, 4)
    np.testing.assert_array_equal(out.detach().numpy()[0, 0], np.zeros(4))


def _pool1d_ref(x, k, s, op):
    n = (x.shape[-1] - k) // s + 1
    return np.stack([op(x[..., i * s:i * s + k], axis=-1) for i in range(n)], -1)


@pytest.mark.parametrize("k, s", [(1, 1), (3, 2), (2, 2)])
def test_pool1d_matches_reference(k, s):
    check_op(lambda x: F.max_pool1d(x, k, s), lambda a: _pool1d_ref(a, k, s, np.max), (2, 3, 9))
    check_op(lambda x: F.avg_pool1d(x, k, s), lambda a: _pool1d_ref(a, k, s, np.mean), (2, 3, 9))


def test_adaptive_pool1d_and_modules():
    check_op(lambda x: F.adaptive_avg_pool1d(x, 1), lambda a: a.mean(-1, keepdims=True), (2, 3, 7))
    check_op(lambda x: F.adaptive_max_pool1d(x, 1), lambda a: a.max(-1, keepdims=True), (2, 3, 7))
    x = ember.randn(2, 3, 8)
    assert tuple(nn.MaxPool1d(2)(x).shape) == (2, 3, 4)
    assert tuple(nn.AvgPool1d(2)(x).shape) == (2, 3, 4)
    assert tuple(nn.AdaptiveAvgPool1d(3)(x).shape) == (2, 3, 3)
    assert tuple(nn.AdaptiveMaxPool1d(3)(x).shape) == (2, 3, 3)


def _sig(a):
    return 1 / (1 + np.exp(-a))


@pytest.mark.parametrize("name, f, ref", [
    ("glu", lambda x: F.glu(x, -1), lambda a: a[..., :2] * _sig(a[..., 2:])),
    ("logsigmoid", F.logsigmoid, lambda a: -np.log1p(np.exp(-a))),
    ("softsign", F.softsign, lambda a: a / (1 + np.abs(a))),
    ("softshrink", lambda x: F.softshrink(x, 0.5), lambda a: np.where(a > 0.5, a - 0.5, np.where(a < -0.5, a + 0.5, 0))),
    ("hardshrink", lambda x: F.hardshrink(x, 0.5), lambda a: np.where(np.abs(a) > 0.5, a, 0)),
    ("tanhshrink", F.tanhshrink, lambda a: a - np.tanh(a)),
    ("threshold", lambda x: F.threshold(x, 0.1, -2.0), lambda a: np.where(a > 0.1, a, -2.0)),
    ("rrelu_eval", lambda x: F.rrelu(x, 0.1, 0.3, training=False), lambda a: np.where(a >= 0, a, 0.2 * a)),
])
def test_composite_activations_match_reference(name, f, ref):
    check_op(f, ref, (3, 4))


def test_activation_modules_run_forward_and_backward():
    x = ember.randn(4, 6, requires_grad=True)
    for m in (nn.GLU(), nn.LogSigmoid(), nn.Softsign(), nn.Softshrink(), nn.Hardshrink(), nn.Tanhshrink(),
              nn.Threshold(0.1, 20.0), nn.RReLU()):
        m(x).sum().backward()
        assert x.grad is not None and np.isfinite(x.grad.numpy()).all()
        x.grad = None


def test_rrelu_training_slopes_lie_between_lower_and_upper():
    x = -ember.ones(10000)
    y = F.rrelu(x, 0.1, 0.3, training=True).numpy()
    assert (y <= -0.1 + 1e-7).all() and (y >= -0.3 - 1e-7).all() and y.std() > 0.03


def test_dropout_variants_drop_whole_channels_and_keep_the_mean():
    ember.manual_seed(0)
    y = F.dropout1d(ember.ones(8, 16, 5), 0.5).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0} and (y == y[..., :1]).all()
    y = F.dropout3d(ember.ones(4, 8, 2, 3, 3), 0.5).numpy()
    assert (y.reshape(4, 8, -1) == y.reshape(4, 8, -1)[..., :1]).all()
    x = ember.randn(200000)
    y = F.alpha_dropout(x, 0.2, training=True).numpy()
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02
    assert F.alpha_dropout(x, 0.2, training=False) is x
    for m in (nn.Dropout1d(), nn.Dropout3d(), nn.AlphaDropout()):
        m.eval()
    with pytest.raises(ValueError, match="3D"):
        F.dropout1d(ember.ones(2, 2, 2, 2), 0.5)
