"""The autograd engine: its fast path (one root, no hooks, no inputs=, no anomaly mode) must give
exactly what the general path gives, leaf gradients that it takes over without a copy must never
alias a tensor anyone else holds, and hooks, retain_grad, create_graph, custom Functions and the
errors behave as torch's (compared in the same process where torch is installed)."""
import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.autograd import Function


def _f64(values, grad=True):
    return ember.tensor(values, dtype=ember.float64, requires_grad=grad)


def _shares(a, b):
    return a._c.shares_storage(b._c)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _mlp_grads(hook_kind=None, seed=0):
    """Parameter gradients of a small MLP + MSE, with optional no-op hooks that force the
    engine's general path."""
    ember.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    x = ember.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3))
    y = ember.tensor(np.linspace(0, 1, 8, dtype=np.float32).reshape(4, 2))
    if hook_kind == "module":
        model[1].register_forward_hook(lambda m, i, o: None)
    out = model(x)
    if hook_kind == "tensor":
        out.register_hook(lambda g: None)
    if hook_kind == "node":
        out.grad_fn.register_hook(lambda gi, go: None)
    if hook_kind == "retain":
        out.retain_grad()
    if hook_kind == "leaf":
        model[0].weight.register_hook(lambda g: None)
    loss = F.mse_loss(out, y)
    if hook_kind == "inputs":
        loss.backward(inputs=list(model.parameters()))
    elif hook_kind == "anomaly":
        with pytest.warns(UserWarning), ember.autograd.detect_anomaly():
            loss.backward()
    else:
        loss.backward()
    return loss.item(), [p.grad.numpy().copy() for p in model.parameters()]


@pytest.mark.parametrize("hook_kind", ["module", "tensor", "node", "retain", "leaf", "inputs", "anomaly"])
def test_fast_path_gradients_are_identical_to_the_general_path(hook_kind):
    loss0, plain = _mlp_grads()
    loss1, hooked = _mlp_grads(hook_kind)
    assert loss0 == loss1
    for a, b in zip(plain, hooked):
        np.testing.assert_array_equal(a, b)


def test_mlp_training_step_matches_torch(torch):
    tm = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)).double()
    em = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).double()
    em.load_state_dict({k: ember.from_numpy(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 3))
    y = np.random.default_rng(1).standard_normal((4, 2))
    topt = torch.optim.SGD(tm.parameters(), lr=0.1)
    eopt = ember.optim.SGD(em.parameters(), lr=0.1)
    for _ in range(3):
        tl = torch.nn.functional.mse_loss(tm(torch.from_numpy(x)), torch.from_numpy(y))
        el = F.mse_loss(em(ember.from_numpy(x)), ember.from_numpy(y))
        tl.backward()
        el.backward()
        for tp, ep in zip(tm.parameters(), em.parameters()):
            np.testing.assert_allclose(ep.grad.numpy(), tp.grad.numpy(), rtol=1e-12, atol=1e-14)
        topt.step()
        eopt.step()
        topt.zero_grad()
        eopt.zero_grad()
        assert all(p.grad is None for p in em.parameters())
        assert el.item() == pytest.approx(tl.item(), rel=1e-12)


def _times_one_with_backward(backward):
    """A custom Function computing x * 1 whose backward is `backward(g)`."""
    return type("TimesOne", (Function,), {"forward": staticmethod(lambda ctx, x: x * 1),
                                          "backward": staticmethod(lambda ctx, g: backward(g))})


# ---- leaf gradients taken over without a copy -------------------------------------------------
def test_gradient_passed_to_backward_of_a_leaf_is_copied_not_aliased():
    x = _f64([1.0, 2.0])
    g = _f64([3.0, 4.0], grad=False)
    x.backward(g)
    assert x.grad is not g and not _shares(x.grad, g)
    g.fill_(0)
    assert x.grad.tolist() == [3.0, 4.0]


@pytest.mark.parametrize("op", [lambda x: x + 0, lambda x: x.clone(), lambda x: x.reshape(2, 2),
                                lambda x: x.view(4), lambda x: x[:], lambda x: x * 1])
def test_gradient_passed_to_backward_never_becomes_the_leaf_grad(op):
    x = _f64([1.0, 2.0, 3.0, 4.0])
    y = op(x)
    g = ember.ones(y.shape, dtype=ember.float64) * 2
    y.backward(g)
    assert not _shares(x.grad, g)
    g.fill_(7)
    assert x.grad.flatten().tolist() == [2.0] * 4


def test_gradient_from_numpy_memory_is_not_aliased():
    x = _f64([1.0, 2.0])
    arr = np.array([5.0, 6.0])
    (x + 0).backward(ember.from_numpy(arr))
    arr[:] = 0
    assert x.grad.tolist() == [5.0, 6.0]


def test_gradient_made_from_numpy_memory_by_a_backward_is_not_aliased():
    arr = np.array([5.0, 6.0])
    x = _f64([1.0, 2.0])
    _times_one_with_backward(lambda g: ember.from_numpy(arr)).apply(x).sum().backward()
    arr[:] = 0
    assert x.grad.tolist() == [5.0, 6.0]


def test_one_gradient_reaching_two_leaves_gives_each_its_own_buffer():
    a, b = _f64([1.0, 2.0]), _f64([3.0, 4.0])
    (a + b).sum().backward()
    assert not _shares(a.grad, b.grad)
    a.grad.mul_(10)
    assert b.grad.tolist() == [1.0, 1.0]


def test_gradient_held_by_a_hook_or_retain_grad_is_not_aliased():
    x = _f64([1.0, 2.0])
    y = x.clone()
    seen = []
    y.register_hook(lambda g: seen.append(g))
    y.sum().backward()
    assert not _shares(x.grad, seen[0])
    x2 = _f64([1.0, 2.0])
    y2 = x2.clone()
    y2.retain_grad()
    y2.sum().backward()
    assert not _shares(x2.grad, y2.grad)
    x2.grad.add_(1)
    assert y2.grad.tolist() == [1.0, 1.0]


class _ReturnsSaved(Function):
    @staticmethod
    def forward(ctx, x, k):
        ctx.save_for_backward(k)
        return x * 1

    @staticmethod
    def backward(ctx, g):
        (k,) = ctx.saved_tensors
        return k, None


_ReturnsDetached = _times_one_with_backward(lambda g: g.detach())


def test_custom_function_returning_a_held_tensor_as_gradient_is_not_aliased():
    x = _f64([1.0, 2.0])
    k = _f64([5.0, 6.0], grad=False)
    _ReturnsSaved.apply(x, k).sum().backward(retain_graph=True)
    assert not _shares(x.grad, k)
    _ReturnsSaved.apply(x, k).sum().backward()  # graph freed: only the user still holds k
    assert not _shares(x.grad, k) and x.grad.tolist() == [10.0, 12.0]
    x2 = _f64([1.0, 2.0])
    g = _f64([3.0, 4.0], grad=False)
    _ReturnsDetached.apply(x2).backward(g)
    assert not _shares(x2.grad, g)


def test_fresh_gradient_is_taken_over_and_later_steps_accumulate():
    x = _f64([1.0, 2.0])
    (x * x).sum().backward()
    first = x.grad
    assert first.tolist() == [2.0, 4.0]
    (x * 3).sum().backward()
    assert x.grad is first and first.tolist() == [5.0, 7.0]  # accumulated in place, as torch does


def test_leaf_used_twice_gets_the_sum_and_leaf_hooks_see_it_once():
    calls = []
    x = _f64([1.0, 2.0])
    x.register_hook(lambda g: calls.append(g.tolist()))
    (x * 2 + x * 3).sum().backward()
    assert x.grad.tolist() == [5.0, 5.0] and calls == [[5.0, 5.0]]


def test_grad_of_non_requires_grad_inputs_stays_none_and_dtype_is_kept():
    w = ember.ones(2, requires_grad=True)
    c = ember.ones(2)
    (w * c.double()).sum().backward()
    assert c.grad is None and w.grad.dtype is ember.float32


# ---- hooks, retain_grad, graph lifetime -------------------------------------------------------
def test_hooks_retain_grad_and_node_hooks_match_torch(torch):
    def run(lib):
        x = lib.tensor([1.0, -2.0, 3.0], dtype=lib.float64, requires_grad=True)
        y = x * x
        y.retain_grad()
        y.register_hook(lambda g: g * 2)
        z = y.tanh()
        record = []
        z.grad_fn.register_hook(lambda gi, go: record.append((gi[0].tolist(), go[0].tolist())))
        x.register_hook(lambda g: g + 1)
        (z * lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64)).sum().backward()
        return x.grad.tolist(), y.grad.tolist(), record
    ex, ey, er = run(ember)
    tx, ty, tr = run(torch)
    np.testing.assert_allclose(ex, tx, rtol=1e-12)
    np.testing.assert_allclose(ey, ty, rtol=1e-12)
    np.testing.assert_allclose(er[0][0], tr[0][0], rtol=1e-12)
    np.testing.assert_allclose(er[0][1], tr[0][1], rtol=1e-12)


def test_removed_hook_is_not_called():
    x = _f64([1.0])
    h = x.register_hook(lambda g: g * 100)
    h.remove()
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0]


def test_module_hook_registered_after_a_call_is_honoured():
    lin = nn.Linear(2, 2)
    x = ember.ones(1, 2)
    lin(x)
    calls = []
    h = lin.register_forward_hook(lambda m, i, o: calls.append(1) or o * 0)
    assert lin(x).abs().sum().item() == 0 and calls == [1]
    h.remove()
    assert lin(x).abs().sum().item() != 0 and calls == [1]
    lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    assert ember.allclose(lin(x), lin.bias.expand(1, 2))


def test_backward_twice_needs_retain_graph_and_then_accumulates():
    x = _f64([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    g1 = x.grad.tolist()
    y.backward()
    np.testing.assert_allclose(x.grad.tolist(), [2 * v for v in g1])
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_saved_tensor_modified_in_place_is_caught():
    x = _f64([1.0, 2.0])
    y = x * 1
    z = y.sin()  # saves y
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        (z.sum() + (y * y).sum()).backward()


# ---- create_graph, grad(), several roots ------------------------------------------------------
def test_second_and_third_derivatives_match_torch(torch):
    def run(lib):
        x = lib.tensor([0.5, -1.5], dtype=lib.float64, requires_grad=True)
        y = (x.tanh() * x * x).sum()
        (g,) = lib.autograd.grad(y, x, create_graph=True)
        (gg,) = lib.autograd.grad(g.sum(), x, create_graph=True)
        gg.sum().backward()
        return g.tolist(), gg.tolist(), x.grad.tolist()
    for e, t in zip(run(ember), run(torch)):
        np.testing.assert_allclose(e, t, rtol=1e-12)


def test_create_graph_backward_keeps_a_differentiable_grad():
    x = _f64([2.0])
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad and x.grad.item() == 12.0
    g = x.grad
    x.grad = None
    g.sum().backward()
    assert x.grad.item() == 12.0  # d/dx 3x^2


def test_several_roots_and_inputs_argument(torch):
    def run(lib):
        a = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        b = lib.tensor([3.0, 4.0], dtype=lib.float64, requires_grad=True)
        u, v = a * b, (a + b).exp()
        lib.autograd.backward([u, v], [lib.ones(2, dtype=lib.float64), lib.full((2,), 0.5, dtype=lib.float64)])
        ga, gb = a.grad.tolist(), b.grad.tolist()
        a.grad = b.grad = None
        (a * b).sum().backward(inputs=[a])
        return ga, gb, a.grad.tolist(), b.grad
    ea, eb, ea2, eb2 = run(ember)
    ta, tb, ta2, tb2 = run(torch)
    np.testing.assert_allclose(ea, ta, rtol=1e-12)
    np.testing.assert_allclose(eb, tb, rtol=1e-12)
    np.testing.assert_allclose(ea2, ta2, rtol=1e-12)
    assert eb2 is None and tb2 is None


def test_grad_allow_unused_and_leaves_untouched():
    x, y = _f64([1.0]), _f64([2.0])
    gx, gy = ember.autograd.grad((x * 3).sum(), [x, y], allow_unused=True)
    assert gx.tolist() == [3.0] and gy is None and x.grad is None


def test_root_that_is_a_leaf():
    x = _f64([4.0])
    x.sum().backward()
    assert x.grad.tolist() == [1.0]
    s = _f64(2.0)
    s.backward()
    assert s.grad.item() == 1.0


def test_no_grad_records_nothing():
    x = _f64([1.0])
    with ember.no_grad():
        y = x * 2
    assert not y.requires_grad and y.grad_fn is None


# ---- custom Functions -------------------------------------------------------------------------
class _Scale(Function):
    @staticmethod
    def forward(ctx, x, k):
        ctx.k = k
        ctx.save_for_backward(x)
        return x * k

    @staticmethod
    def backward(ctx, g):
        assert ctx.needs_input_grad == (True, False)
        (x,) = ctx.saved_tensors
        return g * ctx.k, None


class _TwoOutputs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.set_materialize_grads(False)
        idx = ember.tensor([0, 1])
        ctx.mark_non_differentiable(idx)
        return x * 2, x * 3, idx

    @staticmethod
    def backward(ctx, g1, g2, g3):
        assert g3 is None
        total = None
        for g, k in ((g1, 2), (g2, 3)):
            if g is not None:
                total = g * k if total is None else total + g * k
        return total


def test_custom_functions():
    x = _f64([1.0, 2.0])
    _Scale.apply(x, 5.0).sum().backward()
    assert x.grad.tolist() == [5.0, 5.0]
    x.grad = None
    a, b, idx = _TwoOutputs.apply(x)
    assert not idx.requires_grad and a.requires_grad
    b.sum().backward()  # a's gradient stays None: materialize_grads is off
    assert x.grad.tolist() == [3.0, 3.0]


def test_custom_function_errors():
    _WrongCount = _times_one_with_backward(lambda g: (g, g))
    _WrongShape = _times_one_with_backward(lambda g: ember.ones(3, dtype=g.dtype))
    with pytest.raises(RuntimeError, match="returned an incorrect number of gradients"):
        _WrongCount.apply(_f64([1.0])).sum().backward()
    with pytest.raises(RuntimeError, match=r"returned an invalid gradient at index 0 - got \[3\] but expected "
                                            r"shape compatible with \[2\]"):
        _WrongShape.apply(_f64([1.0, 2.0])).sum().backward()


def test_anomaly_mode_names_the_op():
    x = _f64([-1.0])
    with pytest.warns(UserWarning), ember.autograd.detect_anomaly():
        y = x.sqrt()
        with pytest.raises(RuntimeError, match="SqrtBackward0' returned nan"):
            y.sum().backward()


# ---- losses ------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("target_grad", [False, True])
def test_mse_loss_matches_torch_to_second_order(torch, reduction, target_grad):
    rng = np.random.default_rng(3)
    xa, ya, wa = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.standard_normal((3, 4))

    def run(lib):
        x = lib.tensor(xa, requires_grad=True)
        y = lib.tensor(ya, requires_grad=target_grad)
        loss = lib.nn.functional.mse_loss(x.tanh(), y, reduction=reduction)
        if reduction == "none":
            loss = (loss * lib.tensor(wa)).sum()
        (gx,) = lib.autograd.grad(loss, x, create_graph=True)
        (gx * gx).sum().backward()
        return loss.item(), gx.detach().numpy(), x.grad.numpy(), (y.grad.numpy() if target_grad else None)
    for e, t in zip(run(ember), run(torch)):
        if t is None:
            assert e is None
        else:
            np.testing.assert_allclose(e, t, rtol=1e-10, atol=1e-12)


def test_mse_loss_broadcasts_like_the_composite():
    x = _f64([[1.0, 2.0], [3.0, 4.0]])
    y = _f64([1.0, 0.0], grad=False)
    loss = F.mse_loss(x, y)
    loss.backward()
    assert loss.item() == pytest.approx((0 + 4 + 4 + 16) / 4)
    assert x.grad.tolist() == [[0.0, 1.0], [1.0, 2.0]]


def test_mse_loss_without_grad_and_with_mixed_dtypes_matches_torch(torch):
    xa, ya = np.array([[1.0, -2.0], [0.5, 3.0]]), np.array([[0.0, 1.0], [2.0, -1.0]])
    for reduction in ("mean", "sum", "none"):
        e = F.mse_loss(ember.tensor(xa, dtype=ember.float32), ember.tensor(ya), reduction=reduction)
        t = torch.nn.functional.mse_loss(torch.tensor(xa, dtype=torch.float32), torch.tensor(ya),
                                         reduction=reduction)
        assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
        np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-6)
        with ember.no_grad():
            e2 = F.mse_loss(ember.tensor(xa), ember.tensor(ya, requires_grad=True), reduction=reduction)
        assert e2.grad_fn is None
        np.testing.assert_allclose(e2.numpy(), torch.nn.functional.mse_loss(
            torch.tensor(xa), torch.tensor(ya), reduction=reduction).numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        F.mse_loss(ember.ones(2), ember.ones(2), reduction="avg")
    assert F.mse_loss(ember.ones(2), ember.zeros(2), size_average=False).item() == 2.0


# ---- the fast paths outside the engine -------------------------------------------------------
def test_linear_subclass_and_replaced_weight_are_honoured():
    class Doubled(nn.Linear):  # Linear's forward, with weight and bias defined otherwise
        def __init__(self, base):
            nn.Module.__init__(self)
            self.base = base

        @property
        def weight(self):
            return self.base.weight * 2

        @property
        def bias(self):
            return self.base.bias

    x = ember.ones(1, 2)
    lin = nn.Linear(2, 1)
    assert ember.allclose(Doubled(lin)(x) - lin.bias, (lin(x) - lin.bias) * 2)
    w = lin.weight.detach().clone()
    del lin.weight
    lin.weight = w * 0  # a plain tensor attribute now, as torch.func.functional_call arranges
    assert ember.allclose(lin(x), lin.bias.expand(1, 1))


def test_optimizer_step_restores_grad_mode_even_when_it_fails():
    w = nn.Parameter(ember.ones(2))
    opt = ember.optim.SGD([w], lr=0.1)
    w.grad = ember.ones(2, dtype=ember.float64)  # the fused step refuses a dtype mismatch
    with pytest.raises(TypeError, match="dtype"):
        opt.step()
    assert ember.is_grad_enabled()
    w.grad = ember.ones(4)[::2]  # non-contiguous gradients are accepted
    opt.step()
    assert w.tolist() == pytest.approx([0.9, 0.9]) and ember.is_grad_enabled()


def test_max_over_a_dim_backward_gets_no_made_up_indices_gradient(torch):
    def run(lib):
        x = lib.tensor([[1.0, 5.0, 5.0], [7.0, 2.0, 3.0]], dtype=lib.float64, requires_grad=True)
        v, i = x.max(1)
        (v * lib.tensor([1.0, 2.0], dtype=lib.float64)).sum().backward()
        return x.grad.tolist(), i.tolist()
    assert run(ember) == run(torch)


def test_anomaly_mode_is_process_wide_like_torch():
    assert not ember.autograd.is_anomaly_enabled()
    ember.autograd.set_detect_anomaly(True)
    try:
        assert ember.autograd.is_anomaly_enabled()
    finally:
        ember.autograd.set_detect_anomaly(False)
    assert not ember.autograd.is_anomaly_enabled()
