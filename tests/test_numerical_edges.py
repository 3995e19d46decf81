"""Numerical edge cases: huge logits in softmax, log_softmax and cross-entropy, BCE-with-logits far
into saturation, log/sqrt at 0, pow with negative bases, var of one element, batch norm of constant
channels and optimizers fed zero gradients. Each test checks torch's documented answer, computed in
float64 NumPy, and that gradients are finite wherever torch's are (a final test compares against
torch itself when it is installed).
"""
import math

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F

DTYPES = [ember.float32, ember.float64]
# Huge logits: +-1e4 (exp overflows without the max shift) and rows shifted by 1e7 (in float32
# the spacing there is 1.0, so x - (m + log(sum)) would lose log(sum) entirely).
HUGE = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]])
SHIFTED = np.array([[1e7, 1e7 + 1, 1e7 + 2], [-1e7, -1e7 + 1, -1e7 - 1]])
WEIGHTS = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])


def leaf(a, dtype):
    return ember.tensor(np.asarray(a, dtype=np.float64), dtype=dtype, requires_grad=True)


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype is ember.float32 else dict(rtol=1e-12, atol=1e-12)


def ref_log_softmax(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return (x - m) - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def assert_close(got, want, dtype, **kw):
    np.testing.assert_allclose(got.detach().numpy().astype(np.float64), want, **{**tol(dtype), **kw})


# ---- softmax family ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("logits", [HUGE, SHIFTED], ids=["pm1e4", "shift1e7"])
@pytest.mark.parametrize("transposed", [False, True], ids=["rows", "strided"])
def test_softmax_and_log_softmax_of_huge_logits_are_exact_with_finite_gradients(dtype, logits, transposed):
    # transposed: softmax over dim 0 of a (3, 2) view, which takes the kernel's strided path.
    lp = ref_log_softmax(logits, axis=1)
    p = np.exp(lp)
    for log in (False, True):
        x = leaf(logits.T if transposed else logits, dtype)
        dim = 0 if transposed else 1
        y = (F.log_softmax if log else F.softmax)(x, dim)
        y_rows = y.t() if transposed else y
        assert_close(y_rows, lp if log else p, dtype)
        w = ember.tensor(WEIGHTS.T if transposed else WEIGHTS, dtype=dtype)
        (y * w).sum().backward()
        # d/dx sum(w * softmax) = p (w - sum(w p)); d/dx sum(w * log_softmax) = w - p sum(w)
        if log:
            want = WEIGHTS - p * WEIGHTS.sum(1, keepdims=True)
        else:
            want = p * (WEIGHTS - (WEIGHTS * p).sum(1, keepdims=True))
        g = x.grad.t() if transposed else x.grad
        assert np.isfinite(g.numpy()).all()
        assert_close(g, want, dtype, atol=1e-5 if dtype is ember.float32 else 1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("logits", [HUGE, SHIFTED], ids=["pm1e4", "shift1e7"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_of_huge_logits_matches_the_exact_loss_and_gradient(dtype, logits, label_smoothing):
    target = np.array([1, 2])
    n, c = logits.shape
    lp = ref_log_softmax(logits, axis=1)
    q = np.full((n, c), label_smoothing / c)
    q[np.arange(n), target] += 1 - label_smoothing  # torch's smoothed target distribution
    x = leaf(logits, dtype)
    loss = F.cross_entropy(x, ember.tensor(target), reduction="none", label_smoothing=label_smoothing)
    assert_close(loss, -(q * lp).sum(1), dtype, rtol=1e-6)
    loss.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    assert_close(x.grad, np.exp(lp) - q, dtype, atol=1e-6 if dtype is ember.float32 else 1e-12)

    x = leaf(logits, dtype)
    F.cross_entropy(x, ember.tensor(target), label_smoothing=label_smoothing).backward()
    assert_close(x.grad, (np.exp(lp) - q) / n, dtype, atol=1e-6 if dtype is ember.float32 else 1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_logsumexp_of_huge_logits_is_the_max_plus_a_small_term(dtype):
    x = leaf(HUGE, dtype)
    out = ember.logsumexp(x, 1)
    assert_close(out, [1e4, 1e4 + math.log(2)], dtype)
    out.sum().backward()
    # The gradient exp(x - lse) inherits lse's float32 rounding (0.001 at 1e4): 1e-4 off, as torch's.
    assert_close(x.grad, np.exp(ref_log_softmax(HUGE, 1)), dtype, atol=2e-4 if dtype is ember.float32 else 1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_softmax_of_minus_inf_entries_is_zero_and_log_softmax_minus_inf(dtype):
    x = ember.tensor([[-math.inf, 0.0, 0.0]], dtype=dtype)
    assert_close(F.softmax(x, 1), [[0.0, 0.5, 0.5]], dtype)
    assert_close(F.log_softmax(x, 1), [[-math.inf, -math.log(2), -math.log(2)]], dtype)


# ---- saturated sigmoids -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("pos_weight", [None, 2.0])
def test_bce_with_logits_at_plus_minus_120_is_exact_and_its_gradient_finite(dtype, pos_weight):
    x_np = np.array([120.0, -120.0, 120.0, -120.0])
    y_np = np.array([1.0, 0.0, 0.0, 1.0])
    pw = 1.0 if pos_weight is None else pos_weight
    # torch: l = (1 - y) x + (1 + (pw - 1) y) log(1 + exp(-x)), the softplus taken stably
    softplus_neg = np.logaddexp(0.0, -x_np)
    want = (1 - y_np) * x_np + (1 + (pw - 1) * y_np) * softplus_neg
    sig = 1 / (1 + np.exp(-x_np))
    want_grad = np.where(y_np == 1, pw * (sig - 1), sig)  # (1 - y) - (1 + (pw - 1) y) sigmoid(-x)
    x = leaf(x_np, dtype)
    kw = {} if pos_weight is None else {"pos_weight": ember.tensor([pos_weight], dtype=dtype)}
    loss = F.binary_cross_entropy_with_logits(x, ember.tensor(y_np, dtype=dtype), reduction="none", **kw)
    assert_close(loss, want, dtype)
    loss.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    assert_close(x.grad, want_grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_sigmoid_and_softplus_saturate_without_overflow(dtype):
    x = leaf([120.0, -120.0, 0.0], dtype)
    s = ember.sigmoid(x)
    want = 1 / (1 + np.exp(-np.array([120.0, -120.0, 0.0])))  # 7.7e-53 at -120: 0 in float32
    want = want.astype(dtype.to_numpy()).astype(np.float64)
    assert_close(s, want, dtype, rtol=1e-6, atol=0)
    s.sum().backward()
    assert_close(x.grad, want * (1 - want), dtype, rtol=1e-6, atol=0)
    x = leaf([1000.0, -1000.0], dtype)
    sp = F.softplus(x)
    assert_close(sp, [1000.0, 0.0], dtype)
    sp.sum().backward()
    assert_close(x.grad, [1.0, 0.0], dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_bce_at_probabilities_0_and_1_has_torch_clamped_loss_and_finite_input_gradient(dtype):
    # torch clamps each log at -100 and divides the gradient by max(x (1 - x), 1e-12).
    x = leaf([0.0, 1.0, 0.0, 1.0], dtype)
    y = ember.tensor([0.0, 1.0, 1.0, 0.0], dtype=dtype)
    loss = F.binary_cross_entropy(x, y, reduction="none")
    assert_close(loss, [0.0, 0.0, 100.0, 100.0], dtype)
    loss.sum().backward()
    assert_close(x.grad, [0.0, 0.0, -1e12, 1e12], dtype, rtol=1e-6)


# ---- log, sqrt and pow at their edges ------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_log_sqrt_rsqrt_log1p_at_zero_give_torch_infinities(dtype):
    cases = [  # (fn, x, value, gradient): torch's answers, infinite where the maths is
        (ember.log, [0.0, 1.0], [-math.inf, 0.0], [math.inf, 1.0]),
        (ember.sqrt, [0.0, 4.0], [0.0, 2.0], [math.inf, 0.25]),
        (ember.rsqrt, [0.0, 4.0], [math.inf, 0.5], [-math.inf, -1 / 16]),
        (ember.log1p, [-1.0, 0.0], [-math.inf, 0.0], [math.inf, 1.0]),
    ]
    for fn, x_np, value, grad in cases:
        x = leaf(x_np, dtype)
        y = fn(x)
        assert_close(y, value, dtype)
        y.sum().backward()
        assert_close(x.grad, grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_pow_with_negative_bases_follows_torch(dtype):
    x = leaf([-2.0, -0.5, 0.0], dtype)
    (x ** 2).sum().backward()
    assert_close(x.grad, [-4.0, -1.0, 0.0], dtype)
    x = leaf([-2.0, -0.5, 0.0], dtype)
    y = x ** 3
    assert_close(y, [-8.0, -0.125, 0.0], dtype)
    y.sum().backward()
    assert_close(x.grad, [12.0, 0.75, 0.0], dtype)
    # tensor ** tensor: a negative base to an integer power is real, to a fractional one NaN;
    # d/dy a^y = a^y log(a) is NaN for a < 0, and torch defines it as 0 for a = 0, y >= 0.
    a, b = leaf([-2.0, -2.0, 0.0, 0.0], dtype), leaf([2.0, 0.5, 0.0, 2.0], dtype)
    out = a ** b
    assert_close(out, [4.0, math.nan, 1.0, 0.0], dtype, equal_nan=True)
    out.sum().backward()
    assert_close(a.grad, [-4.0, math.nan, 0.0, 0.0], dtype, equal_nan=True)
    assert_close(b.grad, [math.nan, math.nan, 0.0, 0.0], dtype, equal_nan=True)
    x = leaf([0.0, 2.0], dtype)
    (x ** 0.0).sum().backward()  # 0^0 = 1 with gradient 0, as torch
    assert_close(x.grad, [0.0, 0.0], dtype)


def test_integer_pow_refuses_negative_exponents():
    with pytest.raises(RuntimeError, match="negative integer powers"):
        ember.tensor([2, 3]) ** -1
    assert (ember.tensor([2, 3]) ** 2).tolist() == [4, 9]


# ---- statistics of one element and of constants ----------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_var_and_std_of_one_element(dtype):
    x = leaf([3.0], dtype)
    v = x.var()  # correction 1 over one element: 0/0, NaN in torch (with a warning)
    assert math.isnan(v.item())
    v.backward()
    assert math.isnan(x.grad.item())
    for fn in (lambda t: t.var(correction=0), lambda t: t.std(correction=0)):
        x = leaf([3.0], dtype)
        out = fn(x)
        assert out.item() == 0.0
        out.backward()
        assert x.grad.item() == 0.0  # torch: std's gradient is 0 where std is 0, not 0/0


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_std_of_a_constant_has_zero_gradient(dtype):
    x = leaf([[3.0, 3.0, 3.0], [1.0, 2.0, 3.0]], dtype)
    s = x.std(1)
    assert_close(s, [0.0, 1.0], dtype)
    s.sum().backward()
    assert_close(x.grad, [[0.0, 0.0, 0.0], [-0.5, 0.0, 0.5]], dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_atan2_at_the_origin_has_zero_gradient(dtype):
    a, b = leaf([0.0, 1.0], dtype), leaf([0.0, 0.0], dtype)
    out = ember.atan2(a, b)
    assert_close(out, [0.0, math.pi / 2], dtype)
    out.sum().backward()
    assert_close(a.grad, [0.0, 0.0], dtype)
    assert_close(b.grad, [0.0, -1.0], dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_batchnorm_of_constant_channels_outputs_the_bias_with_finite_gradients(dtype):
    ember.manual_seed(0)
    bn = nn.BatchNorm2d(2).to(dtype)
    with ember.no_grad():
        bn.weight.copy_(ember.tensor([1.5, 0.5]))
        bn.bias.copy_(ember.tensor([0.25, -1.0]))
    x_np = np.zeros((3, 2, 2, 2))
    x_np[:, 0], x_np[:, 1] = 7.0, -3.0
    x = leaf(x_np, dtype)
    y = bn(x)
    # x - mean = 0 exactly, so y = bias however small eps makes 1/sqrt(var + eps) large
    want = np.broadcast_to(np.array([0.25, -1.0])[None, :, None, None], x_np.shape)
    assert_close(y, want, dtype, atol=1e-3 if dtype is ember.float32 else 1e-9)
    assert_close(bn.running_mean, [0.7, -0.3], dtype)
    assert_close(bn.running_var, [0.9, 0.9], dtype)  # (1 - 0.1) * 1 + 0.1 * 0 (unbiased var 0)
    dy = np.arange(x_np.size, dtype=np.float64).reshape(x_np.shape)
    (y * ember.tensor(dy, dtype=dtype)).sum().backward()
    for g in (x.grad, bn.weight.grad, bn.bias.grad):
        assert np.isfinite(g.numpy()).all()
    assert_close(bn.bias.grad, dy.sum((0, 2, 3)), dtype)
    # dx = w / sqrt(eps) (dy - mean(dy)), the xhat term vanishing with xhat = 0
    centred = dy - dy.mean((0, 2, 3), keepdims=True)
    want_dx = np.array([1.5, 0.5])[None, :, None, None] / math.sqrt(1e-5) * centred
    assert_close(x.grad, want_dx, dtype, rtol=1e-4 if dtype is ember.float32 else 1e-7)
    bn.eval()
    assert np.isfinite(bn(x).detach().numpy()).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_layer_and_group_norm_of_constants_output_the_bias(dtype):
    x = leaf(np.full((2, 4), 5.0), dtype)
    y = F.layer_norm(x, (4,), bias=ember.tensor([1.0, 2.0, 3.0, 4.0], dtype=dtype))
    assert_close(y, np.tile([1.0, 2.0, 3.0, 4.0], (2, 1)), dtype)
    y.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    x = leaf(np.full((2, 4, 3), -2.0), dtype)
    y = F.group_norm(x, 2)
    assert_close(y, np.zeros((2, 4, 3)), dtype)
    (y * ember.tensor(np.arange(24.0).reshape(2, 4, 3), dtype=dtype)).sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


# ---- optimizers fed zero gradients --------------------------------------------------------------------
@pytest.mark.parametrize("name, kwargs", [
    ("Adam", {}), ("Adam", {"amsgrad": True}), ("NAdam", {}), ("RMSprop", {"momentum": 0.9}),
    ("Adagrad", {}), ("Adadelta", {}), ("SGD", {"momentum": 0.9, "nesterov": True}), ("Rprop", {}),
])
def test_optimizers_leave_parameters_unchanged_by_zero_gradients(name, kwargs):
    start = [1.0, -2.0, 0.0]
    p = nn.Parameter(ember.tensor(start))
    opt = getattr(ember.optim, name)([p], lr=0.1, **kwargs)
    for _ in range(3):
        p.grad = ember.zeros(3)
        opt.step()
    assert p.detach().tolist() == start  # Adam: m = v = 0, so the step is 0 / (0 + eps) = 0
    for value in opt.state[p].values():
        if isinstance(value, ember.Tensor):
            assert np.isfinite(value.numpy()).all()


def test_adamw_with_zero_gradients_only_decays_the_weights():
    p = nn.Parameter(ember.tensor([1.0, -2.0, 0.0]))
    opt = ember.optim.AdamW([p], lr=0.1, weight_decay=0.01)
    for _ in range(3):
        p.grad = ember.zeros(3)
        opt.step()
    np.testing.assert_allclose(p.detach().numpy(), np.array([1.0, -2.0, 0.0]) * (1 - 0.1 * 0.01) ** 3, rtol=1e-6)


# ---- against torch, when it is installed -----------------------------------------------------------------
ORACLE = {  # name: (fn(lib, F, *tensors), inputs); every input is differentiated
    "softmax_pm1e4": (lambda lib, F, x: F.softmax(x, 1), [HUGE]),
    "log_softmax_shift": (lambda lib, F, x: F.log_softmax(x, 1), [SHIFTED]),
    "cross_entropy_pm1e4": (lambda lib, F, x: F.cross_entropy(x, lib.tensor([1, 0]), label_smoothing=0.1), [HUGE]),
    "cross_entropy_shift": (lambda lib, F, x: F.cross_entropy(x, lib.tensor([0, 2]), reduction="none"), [SHIFTED]),
    "bce_logits_120": (lambda lib, F, x, y: F.binary_cross_entropy_with_logits(x, y, reduction="none"),
                       [[120.0, -120.0, 120.0, -120.0], [1.0, 0.0, 0.0, 1.0]]),
    "bce_at_0_and_1": (lambda lib, F, x: F.binary_cross_entropy(x, lib.tensor([0.0, 1.0, 1.0, 0.0], dtype=x.dtype)),
                       [[0.0, 1.0, 0.0, 1.0]]),
    "log_at_0": (lambda lib, F, x: lib.log(x), [[0.0, 1.0]]),
    "sqrt_at_0": (lambda lib, F, x: lib.sqrt(x), [[0.0, 4.0]]),
    "pow_negative_base": (lambda lib, F, a, b: a ** b, [[-2.0, -2.0, 0.0, 0.0], [2.0, 0.5, 0.0, 2.0]]),
    "scalar_negative_base": (lambda lib, F, x: (-2.0) ** x, [[0.5, 2.0]]),
    "var_of_one": (lambda lib, F, x: x.var(), [[3.0]]),
    "std_of_constant": (lambda lib, F, x: x.std(1), [[[3.0, 3.0, 3.0], [1.0, 2.0, 4.0]]]),
    "atan2_origin": (lambda lib, F, a, b: lib.atan2(a, b), [[0.0, 1.0], [0.0, 0.0]]),
    "layer_norm_constant": (lambda lib, F, x: F.layer_norm(x, (3,)) * lib.tensor([1.0, 2.0, 3.0], dtype=x.dtype),
                            [[[2.0, 2.0, 2.0]]]),
    "silu_mish_gelu_saturated": (lambda lib, F, x: F.silu(x) + F.mish(x) + F.gelu(x) + F.elu(x),
                                 [[1000.0, -1000.0, 100.0, -100.0]]),
}


@pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0:UserWarning")  # torch's, for var_of_one
@pytest.mark.parametrize("name", sorted(ORACLE))
@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_edge_case_values_and_gradients_match_torch(name, dtype_name):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as TF
    fn, inputs = ORACLE[name]
    results = []
    for lib, F_ in ((ember, F), (torch, TF)):
        ts = [lib.tensor(np.asarray(a, dtype=np.float64), dtype=getattr(lib, dtype_name), requires_grad=True)
              for a in inputs]
        out = fn(lib, F_, *ts)
        (out.sum() if out.dim() else out).backward()
        results.append([out.detach().numpy()] + [t.grad.numpy() for t in ts])
    rtol = 2e-5 if dtype_name == "float32" else 1e-8  # torch's BCE divides by 1e-12 in another order
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, equal_nan=True, err_msg=name)
        assert np.isfinite(got[np.isfinite(want)]).all(), name  # finite wherever torch's is
