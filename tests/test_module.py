"""nn.Module and friends: registration, traversal, modes, hooks, repr, state_dict round trips,
containers, device/dtype moves, default initialisation, and nn.utils (clipping, vectors).

Layer forwards call ember.nn.functional; tests that need an F op that does not exist yet are
skipped rather than faked. torch, when installed, is an oracle for reprs and error messages."""
import copy
import math
from collections import OrderedDict

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F

try:
    import torch
except ImportError:  # torch is an optional oracle
    torch = None


def needs_F(*names):
    missing = [n for n in names if not hasattr(F, n)]
    return pytest.mark.skipif(bool(missing), reason=f"ember.nn.functional lacks {missing}")


def _np(t):
    return t.detach().numpy()


class Scale(nn.Module):
    """y = x * w + b with elementwise ops only (no F dependency)."""

    def __init__(self, n=3):
        super().__init__()
        self.w = nn.Parameter(ember.ones(n))
        self.b = nn.Parameter(ember.zeros(n))
        self.register_buffer("calls", ember.zeros(()))
        self.register_buffer("scratch", ember.zeros(n), persistent=False)

    def forward(self, x):
        return x * self.w + self.b


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Scale()
        self.block = nn.Sequential(Scale(), Scale())
        self.last = Scale()


# ---- Parameter -----------------------------------------------------------------------------
def test_parameter_is_a_tensor_sharing_storage_and_requiring_grad():
    t = ember.randn(2, 3)
    p = nn.Parameter(t)
    assert isinstance(p, nn.Parameter) and isinstance(p, ember.Tensor)
    assert p.requires_grad and p.is_leaf
    assert p.data_ptr() == t.data_ptr()
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:\ntensor([[")
    assert repr(p).endswith("requires_grad=True)")
    assert type(p * 2) is ember.Tensor
    assert nn.Parameter().shape == (0,)


def test_parameter_gradient_flows_and_deepcopy_keeps_type():
    m = Scale()
    (m(ember.tensor([1.0, 2.0, 3.0])) ** 2).sum().backward()
    np.testing.assert_allclose(_np(m.w.grad), [2, 8, 18])
    p2 = copy.deepcopy(m.w)
    assert isinstance(p2, nn.Parameter) and p2.data_ptr() != m.w.data_ptr()
    np.testing.assert_array_equal(_np(p2.grad), _np(m.w.grad))


# ---- registration and traversal ---------------------------------------------------------------
def test_registration_order_and_prefixed_names():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "first.w", "first.b", "block.0.w", "block.0.b", "block.1.w", "block.1.b", "last.w", "last.b"]
    assert [n for n, _ in net.named_parameters(prefix="model")][0] == "model.first.w"
    assert [n for n, _ in net.named_parameters(recurse=False)] == []
    assert [n for n, _ in net.named_buffers()][:2] == ["first.calls", "first.scratch"]
    assert [n for n, _ in net.named_children()] == ["first", "block", "last"]
    assert [n for n, _ in net.named_modules()] == ["", "first", "block", "block.0", "block.1", "last"]
    assert len(list(net.modules())) == 6 and len(list(net.children())) == 3
    assert len(list(net.parameters())) == 8 and len(list(net.buffers())) == 8


def test_shared_parameters_and_modules_are_listed_once():
    net = Net()
    net.last.w = net.first.w
    net.extra = net.first
    names = [n for n, _ in net.named_parameters()]
    assert "last.w" not in names and names.count("first.w") == 1
    assert len(list(net.parameters())) == 7
    assert len(list(net.named_parameters(remove_duplicate=False))) == 10
    assert [n for n, _ in net.named_modules()].count("extra") == 0


def test_setattr_routes_parameters_buffers_modules_and_reassignment():
    m = nn.Module()
    m.p = nn.Parameter(ember.zeros(2))
    m.register_buffer("buf", ember.zeros(2))
    m.sub = nn.Module()
    m.plain = 5
    assert list(m._parameters) == ["p"] and list(m._buffers) == ["buf"] and list(m._modules) == ["sub"]
    m.buf = ember.ones(2)  # stays a buffer
    assert "buf" in m._buffers and m.buf.sum().item() == 2
    m.p = None
    assert m._parameters["p"] is None and m.p is None
    with pytest.raises(TypeError, match="cannot assign 'ember.float32' as parameter 'p'"):
        m.p = ember.zeros(2)
    with pytest.raises(TypeError, match="cannot assign 'int' as child module 'sub'"):
        m.sub = 3
    with pytest.raises(TypeError, match="cannot assign 'str' as buffer 'buf'"):
        m.buf = "x"
    del m.sub
    assert "sub" not in m._modules
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'sub'"):
        m.sub


def test_register_errors_match_torch():
    m = nn.Module()
    with pytest.raises(KeyError, match='contain "."'):
        m.register_parameter("a.b", None)
    with pytest.raises(KeyError, match="be empty string"):
        m.register_buffer("", None)
    with pytest.raises(TypeError, match="parameter name should be a string. Got int"):
        m.register_parameter(1, None)
    with pytest.raises(TypeError, match="cannot assign 'ember.float32' object to parameter 'x'"):
        m.register_parameter("x", ember.zeros(1))
    m.plain = 1
    with pytest.raises(KeyError, match="attribute 'plain' already exists"):
        m.register_buffer("plain", ember.zeros(1))
    with pytest.raises(TypeError, match="is not a Module subclass"):
        m.add_module("q", 3)
    x = ember.zeros(2, requires_grad=True) * 2
    with pytest.raises(ValueError, match="Cannot assign non-leaf Tensor to parameter 'y'"):
        m.register_parameter("y", _non_leaf(x))

    class Early(nn.Module):
        def __init__(self):
            self.p = nn.Parameter(ember.zeros(1))

    with pytest.raises(AttributeError, match="cannot assign parameters before Module.__init__\\(\\) call"):
        Early()


def _non_leaf(x):
    p = nn.Parameter(ember.zeros(2))
    p.grad_fn = x.grad_fn  # simulate a computed Parameter
    return p


def test_register_module_get_submodule_get_parameter_and_buffer():
    net = Net()
    net.register_module("head", Scale(2))
    assert net.get_submodule("block.1") is net.block[1]
    assert net.get_submodule("") is net
    assert net.get_parameter("block.0.w") is net.block[0].w
    assert net.get_buffer("last.calls") is net.last.calls
    with pytest.raises(AttributeError, match="Sequential has no attribute `7`"):
        net.get_submodule("block.7")
    with pytest.raises(AttributeError, match="`w` is not an nn.Module"):
        net.get_submodule("first.w")
    with pytest.raises(AttributeError, match="`calls` is not an nn.Parameter"):
        net.get_parameter("first.calls")


def test_forward_missing_raises_not_implemented():
    with pytest.raises(NotImplementedError, match=r'Module \[Module\] is missing the required "forward" function'):
        nn.Module()(1)


def test_module_init_rejects_unexpected_arguments():
    with pytest.raises(TypeError, match="unexpected keyword argument 'foo'"):
        nn.Module(foo=1)


# ---- modes, grads, apply ------------------------------------------------------------------------
def test_train_eval_propagate_to_all_submodules():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.block.train(False)
    assert net.training and not net.block[0].training
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        net.train(1)


def test_requires_grad_and_zero_grad():
    net = Net()
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    net.requires_grad_()
    x = ember.ones(3)
    net.last(net.block(net.first(x))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and p.grad.abs().sum().item() == 0 for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_apply_visits_children_first_then_self():
    net = Net()
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Scale", "Scale", "Scale", "Sequential", "Scale", "Net"]

    def init_weights(m):
        if isinstance(m, Scale):
            nn.init.constant_(m.w, 0.5)

    net.apply(init_weights)
    assert all(_np(m.w).tolist() == [0.5] * 3 for m in net.modules() if isinstance(m, Scale))


# ---- device / dtype ---------------------------------------------------------------------------
def test_to_dtype_converts_in_place_and_keeps_parameter_objects():
    net = Net()
    net.first.register_buffer("count", ember.tensor(3))
    w = net.first.w
    w.grad = ember.ones(3)
    assert net.to(ember.float64) is net
    assert net.first.w is w and isinstance(w, nn.Parameter) and w.requires_grad
    assert w.dtype == ember.float64 and w.grad.dtype == ember.float64
    assert net.first.calls.dtype == ember.float64
    assert net.first.count.dtype == ember.int64  # integer buffers are left alone
    net.float()
    assert w.dtype == ember.float32
    net.double()
    assert w.dtype == ember.float64
    net.to(dtype=ember.float32)
    assert w.dtype == ember.float32
    assert net.cpu() is net and net.to("cpu") is net and w.device.type == "cpu"
    with pytest.raises(TypeError, match="only accepts floating point or complex dtypes"):
        net.to(ember.int64)


def test_to_device(device):
    net = Net().to(device)
    assert all(p.device.type == device for p in net.parameters())
    assert all(b.device.type == device for b in net.buffers())
    out = net.first(ember.ones(3, device=device))
    assert out.device.type == device


# ---- hooks ------------------------------------------------------------------------------------
def test_forward_pre_hook_and_forward_hook_modify_input_and_output_and_can_be_removed():
    m = Scale()
    x = ember.ones(3)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
    h2 = m.register_forward_hook(lambda mod, args, out: calls.append(_np(args[0]).tolist()) or out + 1)
    np.testing.assert_array_equal(_np(m(x)), [3, 3, 3])
    assert calls == [[2, 2, 2]]
    h1.remove()
    np.testing.assert_array_equal(_np(m(x)), [2, 2, 2])
    h2.remove()
    h2.remove()  # removing twice is harmless
    np.testing.assert_array_equal(_np(m(x)), [1, 1, 1])
    assert not m._forward_hooks and not m._forward_pre_hooks


def test_hooks_with_kwargs_prepend_and_context_manager():
    class KW(nn.Module):
        def forward(self, x, scale=1.0):
            return x * scale

    m = KW()
    order = []
    m.register_forward_hook(lambda mod, a, out: order.append("second"))
    m.register_forward_hook(lambda mod, a, out: order.append("first"), prepend=True)
    m.register_forward_pre_hook(lambda mod, a, kw: (a, {"scale": 10.0}), with_kwargs=True)
    m.register_forward_hook(lambda mod, a, kw, out: out + kw["scale"], with_kwargs=True)
    np.testing.assert_array_equal(_np(m(ember.ones(2))), [20, 20])
    assert order == ["first", "second"]
    m2 = Scale()
    with m2.register_forward_hook(lambda mod, a, out: out * 0):
        assert _np(m2(ember.ones(3))).sum() == 0
    assert _np(m2(ember.ones(3))).sum() == 3


def test_hook_returning_non_tuple_becomes_single_argument():
    m = Scale()
    m.register_forward_pre_hook(lambda mod, args: args[0] + 1)
    np.testing.assert_array_equal(_np(m(ember.zeros(3))), [1, 1, 1])


# ---- repr -------------------------------------------------------------------------------------
def _torch_repr_model(tnn):
    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(
                tnn.Conv2d(3, 16, 3, padding=1), tnn.BatchNorm2d(16), tnn.ReLU(inplace=True),
                tnn.MaxPool2d(2), tnn.Conv2d(16, 32, (3, 5), stride=2, bias=False, groups=2),
                tnn.AdaptiveAvgPool2d((1, 1)), tnn.Flatten())
            self.blocks = tnn.ModuleList([tnn.Linear(32, 32) for _ in range(3)] + [tnn.LayerNorm(32)])
            self.heads = tnn.ModuleDict({"cls": tnn.Linear(32, 10, bias=False), "act": tnn.GELU()})
            self.drop = tnn.Dropout(p=0.1)
            self.emb = tnn.Embedding(100, 32, padding_idx=0)
            self.gn = tnn.GroupNorm(4, 32)
            self.misc = tnn.Sequential(tnn.LeakyReLU(0.2), tnn.ELU(), tnn.Softmax(dim=1), tnn.Hardtanh(),
                                       tnn.PReLU(), tnn.Softplus(), tnn.SiLU(), tnn.Identity(),
                                       tnn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1),
                                       tnn.AvgPool2d(3, stride=1), tnn.Upsample(scale_factor=2),
                                       tnn.Conv1d(2, 4, 3, padding="same"), tnn.BatchNorm1d(4, affine=False),
                                       tnn.CrossEntropyLoss(), tnn.Unflatten(1, (2, 2)), tnn.Dropout2d())
    return Net()


def test_repr_of_nested_model_has_torchs_format():
    r = repr(_torch_repr_model(nn))
    assert r.startswith("Net(\n  (features): Sequential(\n    (0): Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), "
                        "padding=(1, 1))\n")
    assert "(4): Conv2d(16, 32, kernel_size=(3, 5), stride=(2, 2), groups=2, bias=False)" in r
    assert "(0-2): 3 x Linear(in_features=32, out_features=32, bias=True)" in r
    assert "(emb): Embedding(100, 32, padding_idx=0)" in r
    assert "(2): ReLU(inplace=True)" in r
    if torch is not None:
        assert r == repr(_torch_repr_model(torch.nn)).replace("torch.", "ember.")


def test_extra_repr_single_line_and_parameter_containers():
    assert repr(Scale()) == "Scale()"
    pl = nn.ParameterList([nn.Parameter(ember.zeros(2, 3)), nn.Parameter(ember.zeros(4))])
    assert repr(pl) == ("ParameterList(\n    (0): Parameter containing: [ember.float32 of size 2x3]\n"
                        "    (1): Parameter containing: [ember.float32 of size 4]\n)")
    if torch is not None:
        tpl = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(2, 3)), torch.nn.Parameter(torch.zeros(4))])
        assert repr(pl) == repr(tpl).replace("torch.", "ember.")


# ---- state_dict --------------------------------------------------------------------------------
def test_state_dict_keys_values_and_persistent_buffers():
    net = Net()
    sd = net.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd)[:3] == ["first.w", "first.b", "first.calls"]
    assert "first.scratch" not in sd  # non-persistent
    assert len(sd) == 12
    assert not sd["first.w"].requires_grad and type(sd["first.w"]) is ember.Tensor
    assert sd["first.w"].data_ptr() == net.first.w.data_ptr()  # detached, not copied
    kv = net.state_dict(keep_vars=True)
    assert kv["first.w"] is net.first.w
    pre = net.state_dict(prefix="model.")
    assert list(pre)[0] == "model.first.w"
    assert sd._metadata[""]["version"] == 1 and "block.0" in sd._metadata


def test_load_state_dict_round_trip_copies_in_place():
    a, b = Net(), Net()
    with ember.no_grad():
        for i, p in enumerate(a.parameters()):
            p.fill_(i)
    w = b.first.w
    res = b.load_state_dict(a.state_dict())
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert repr(res) == "<All keys matched successfully>"
    assert b.first.w is w and w.requires_grad
    for (n1, p1), (n2, p2) in zip(a.named_parameters(), b.named_parameters()):
        assert n1 == n2 and np.array_equal(_np(p1), _np(p2)) and p1.data_ptr() != p2.data_ptr()


def test_load_state_dict_strict_errors_name_missing_and_unexpected_keys():
    net = Net()
    sd = net.state_dict()
    del sd["last.b"]
    sd["block.0.extra"] = ember.zeros(1)
    sd["nope.w"] = ember.zeros(1)
    with pytest.raises(RuntimeError) as e:
        net.load_state_dict(sd)
    assert str(e.value) == ('Error(s) in loading state_dict for Net:\n\tMissing key(s) in state_dict: "last.b". '
                            '\n\tUnexpected key(s) in state_dict: "nope.w", "block.0.extra". ')
    res = net.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["last.b"] and res.unexpected_keys == ["nope.w", "block.0.extra"]
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        net.load_state_dict([1, 2])


def test_load_state_dict_size_mismatch_always_raises():
    class Model(nn.Module):
        def __init__(self, out):
            super().__init__()
            self.fc = nn.Linear(4, out)

    src = Model(3).state_dict()
    for strict in (True, False):
        with pytest.raises(RuntimeError) as e:
            Model(5).load_state_dict(src, strict=strict)
        assert str(e.value) == (
            "Error(s) in loading state_dict for Model:\n\tsize mismatch for fc.weight: copying a param with shape "
            "ember.Size([3, 4]) from checkpoint, the shape in current model is ember.Size([5, 4]).\n\t"
            "size mismatch for fc.bias: copying a param with shape ember.Size([3]) from checkpoint, the shape in "
            "current model is ember.Size([5]).")


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_load_state_dict_messages_match_torch():
    def run(lib, tensor_fn):
        class Model(lib.nn.Module):
            def __init__(self, out):
                super().__init__()
                self.fc = lib.nn.Linear(4, out)
                self.bn = lib.nn.BatchNorm1d(out)

        sd = Model(3).state_dict()
        del sd["bn.running_var"]
        sd["zz"] = tensor_fn()
        msgs = []
        for m in (Model(5), Model(3)):
            try:
                m.load_state_dict(sd)
            except RuntimeError as e:
                msgs.append(str(e))
        return msgs

    ours = run(ember, lambda: ember.zeros(1))
    theirs = [m.replace("torch.", "ember.") for m in run(torch, lambda: torch.zeros(1))]
    assert ours == theirs


def test_batchnorm_state_dict_without_num_batches_tracked_loads_from_old_checkpoints():
    bn = nn.BatchNorm1d(3)
    sd = bn.state_dict()
    del sd["num_batches_tracked"]
    sd._metadata[""]["version"] = 1
    assert bn.load_state_dict(sd).missing_keys == []


# ---- containers --------------------------------------------------------------------------------
def test_sequential_indexing_slicing_and_mutation():
    mods = [Scale(), Scale(), Scale(), Scale()]
    seq = nn.Sequential(*mods)
    assert len(seq) == 4 and seq[0] is mods[0] and seq[-1] is mods[3]
    sub = seq[1:3]
    assert isinstance(sub, nn.Sequential) and list(sub) == mods[1:3]
    assert [n for n, _ in sub.named_children()] == ["1", "2"]  # torch keeps the original keys
    with pytest.raises(IndexError, match="index 4 is out of range"):
        seq[4]
    seq.append(Scale())
    assert len(seq) == 5
    del seq[0]
    assert seq[0] is mods[1] and list(seq._modules) == ["0", "1", "2", "3"]
    seq[0] = mods[0]
    assert seq[0] is mods[0]
    od = nn.Sequential(OrderedDict([("a", mods[0]), ("b", mods[1])]))
    assert od.a is mods[0] and [n for n, _ in od.named_children()] == ["a", "b"]
    np.testing.assert_array_equal(_np(od(ember.ones(3))), [1, 1, 1])
    seq.insert(1, mods[3])
    assert seq[1] is mods[3]
    assert len(nn.Sequential(Scale()) + nn.Sequential(Scale(), Scale())) == 3


def _unfused(seq, x):
    """seq's modules called one by one (no fusion), for comparison."""
    for m in seq:
        x = m(x)
    return x


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64], ids=str)
def test_sequential_fuses_linear_with_the_activation_after_it(dtype):
    rng = np.random.default_rng(3)
    seq = nn.Sequential(nn.Linear(7, 33), nn.ReLU(), nn.Linear(33, 5), nn.Tanh(), nn.Linear(5, 3), nn.Sigmoid(),
                        nn.Linear(3, 2)).to(dtype)
    xn = rng.standard_normal((97, 7))
    outs, grads = [], []
    for run in (seq, lambda x: _unfused(seq, x)):
        x = ember.tensor(xn, dtype=dtype, requires_grad=True)
        y = run(x)
        outs.append(y)
        y.sum().backward()
        grads.append([x.grad.numpy()] + [p.grad.numpy().copy() for p in seq.parameters()])
        seq.zero_grad()
    np.testing.assert_array_equal(outs[0].detach().numpy(), outs[1].detach().numpy())
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-6 if dtype == ember.float32 else 1e-13, atol=1e-7)
    # three Linear+activation pairs became single nodes; the unfused run has separate activation nodes
    names = lambda y: [f.name() for f in _graph_nodes(y.grad_fn)]
    assert names(outs[0]).count("LinearBackward0") == 4 and "ReluBackward0" not in names(outs[0])
    assert {"ReluBackward0", "TanhBackward0", "SigmoidBackward0"} <= set(names(outs[1]))
    x64 = ember.tensor(rng.standard_normal((3, 7)), dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(seq.to(ember.float64), (x64,))


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64], ids=str)
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_sequential_fuses_batchnorm_with_the_relu_after_it(dtype, train):
    # Plane sizes 1, 7x7 and 17 (1-D) take the kernels' vector and scalar parts; a shifted input
    # puts about half the values below zero, exact zeros included.
    rng = np.random.default_rng(4)
    for bn, shape in ((nn.BatchNorm2d(6), (5, 6, 7, 7)), (nn.BatchNorm2d(3), (9, 3, 1, 1)),
                      (nn.BatchNorm1d(4), (3, 4, 17)), (nn.BatchNorm1d(5), (11, 5))):
        seq = nn.Sequential(bn, nn.ReLU()).to(dtype)
        with ember.no_grad():
            bn.weight.copy_(ember.tensor(rng.uniform(0.5, 2, bn.num_features), dtype=dtype))
            bn.bias.copy_(ember.tensor(rng.standard_normal(bn.num_features), dtype=dtype))
        seq.train(train)
        xn = rng.standard_normal(shape) + 0.3
        xn.flat[::7] = 0.0
        gn = rng.standard_normal(shape)
        outs, grads, stats = [], [], []
        for run in (seq, lambda x: _unfused(seq, x)):
            bn.reset_running_stats()
            x = ember.tensor(xn, dtype=dtype, requires_grad=True)
            y = run(x)
            outs.append(y)
            y.backward(ember.tensor(gn, dtype=dtype))
            grads.append([x.grad.numpy()] + [p.grad.numpy().copy() for p in seq.parameters()])
            stats.append([bn.running_mean.numpy().copy(), bn.running_var.numpy().copy()])
            seq.zero_grad()
        np.testing.assert_array_equal(outs[0].detach().numpy(), outs[1].detach().numpy())
        for a, b in zip(grads[0] + stats[0], grads[1] + stats[1]):
            np.testing.assert_allclose(a, b, rtol=1e-5 if dtype == ember.float32 else 1e-12, atol=1e-6)
        names = lambda y: [f.name() for f in _graph_nodes(y.grad_fn)]  # noqa: E731
        assert "ReluBackward0" not in names(outs[0]) and "ReluBackward0" in names(outs[1])
        if dtype == ember.float64:
            assert ember.autograd.gradcheck(seq, (ember.tensor(xn[:3] + 0.05, requires_grad=True),))


def _graph_nodes(fn):
    seen, stack = [], [fn]
    while stack:
        f = stack.pop()
        seen.append(f)
        stack.extend(nxt for nxt, _ in f.next_functions if nxt is not None)
    return seen


def test_sequential_does_not_fuse_what_a_hook_or_a_subclass_could_observe():
    calls = []

    class MyReLU(nn.ReLU):
        def forward(self, x):
            calls.append("sub")
            return super().forward(x)

    lin, act = nn.Linear(4, 3), nn.ReLU()
    seen = []
    lin.register_forward_hook(lambda m, i, o: seen.append(o))
    x = ember.randn(2, 4)
    y = nn.Sequential(lin, act)(x)
    assert len(seen) == 1 and y.grad_fn.name() == "ReluBackward0"  # the hook saw the pre-activation output
    np.testing.assert_array_equal(_np(seen[0]), _np(F.linear(x, lin.weight, lin.bias)))
    lin2 = nn.Linear(4, 3)
    act.register_forward_pre_hook(lambda m, i: seen.append(i[0]))
    assert nn.Sequential(lin2, act)(x).grad_fn.name() == "ReluBackward0" and len(seen) == 2
    assert nn.Sequential(nn.Linear(4, 3), MyReLU())(x).grad_fn.name() == "ReluBackward0" and calls == ["sub"]
    # a trailing Linear, an activation not after a Linear, and Linear, Linear in a row still run
    seq = nn.Sequential(nn.Tanh(), nn.Linear(4, 4), nn.Linear(4, 3))
    np.testing.assert_allclose(_np(seq(x)), _np(_unfused(seq, x)), rtol=1e-6)
    with ember.no_grad():
        np.testing.assert_array_equal(_np(nn.Sequential(lin2, nn.ReLU())(x)), _np(F.relu(lin2(x))))


def test_module_list_and_module_dict():
    ml = nn.ModuleList([Scale(), Scale()])
    ml.append(Scale())
    ml.extend([Scale()])
    ml.insert(0, Scale(5))
    assert len(ml) == 5 and ml[0].w.shape == (5,)
    assert ml.index(ml[2]) == 2
    assert isinstance(ml[1:3], nn.ModuleList) and len(ml[1:3]) == 2
    assert ml[-1] is list(ml)[-1]
    assert len(list(ml.parameters())) == 10
    del ml[0]
    assert list(ml._modules) == ["0", "1", "2", "3"]
    md = nn.ModuleDict({"b": Scale(), "a": Scale()})
    md["c"] = Scale()
    assert list(md.keys()) == ["b", "a", "c"] and "a" in md and len(md) == 3
    assert isinstance(md.pop("a"), Scale) and list(md) == ["b", "c"]
    assert [n for n, _ in md.named_parameters()] == ["b.w", "b.b", "c.w", "c.b"]


def test_parameter_list_and_dict_register_and_wrap_tensors():
    pl = nn.ParameterList([ember.zeros(2), nn.Parameter(ember.ones(3))])
    pl.append(ember.zeros(4))
    assert len(pl) == 3 and all(isinstance(p, nn.Parameter) for p in pl)
    assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2"]
    pd = nn.ParameterDict({"x": ember.zeros(2)})
    pd["y"] = nn.Parameter(ember.ones(1))
    assert list(pd.keys()) == ["x", "y"] and isinstance(pd["x"], nn.Parameter)
    assert [n for n, _ in pd.named_parameters()] == ["x", "y"]
    m = nn.Module()
    m.params = pd
    assert list(m.state_dict()) == ["params.x", "params.y"]


def test_deepcopy_of_a_model_copies_parameters_and_buffers():
    net = Net()
    net2 = copy.deepcopy(net)
    assert net2.first.w is not net.first.w and isinstance(net2.first.w, nn.Parameter)
    assert net2.first.calls.data_ptr() != net.first.calls.data_ptr()
    with ember.no_grad():
        net2.first.w.fill_(7)
    assert _np(net.first.w).tolist() == [1, 1, 1]


# ---- layers: construction, defaults, init ---------------------------------------------------------
def test_linear_default_init_bounds_and_statistics():
    ember.manual_seed(0)
    fc = nn.Linear(1000, 400)
    bound = 1 / math.sqrt(1000)
    w, b = _np(fc.weight), _np(fc.bias)
    assert fc.weight.shape == (400, 1000) and fc.bias.shape == (400,)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert np.abs(b).max() <= bound
    assert nn.Linear(3, 2, bias=False).bias is None
    assert [n for n, _ in nn.Linear(3, 2, bias=False).named_parameters()] == ["weight"]
    assert nn.Linear(3, 2, dtype=ember.float64).weight.dtype == ember.float64


def test_layer_init_is_reproducible_under_manual_seed():
    ember.manual_seed(5)
    a = nn.Linear(8, 4)
    ember.manual_seed(5)
    b = nn.Linear(8, 4)
    np.testing.assert_array_equal(_np(a.weight), _np(b.weight))
    np.testing.assert_array_equal(_np(a.bias), _np(b.bias))


def test_conv_default_init_shapes_and_padding_options():
    ember.manual_seed(0)
    c = nn.Conv2d(16, 32, 3)
    fan_in = 16 * 9
    assert c.weight.shape == (32, 16, 3, 3)
    assert np.abs(_np(c.weight)).max() <= 1 / math.sqrt(fan_in)
    assert np.abs(_np(c.bias)).max() <= 1 / math.sqrt(fan_in)
    assert nn.Conv2d(4, 8, 3, groups=2).weight.shape == (8, 2, 3, 3)
    assert nn.ConvTranspose2d(4, 8, 3, groups=2).weight.shape == (4, 4, 3, 3)
    assert nn.Conv1d(2, 3, 5).weight.shape == (3, 2, 5)
    assert nn.Conv2d(2, 2, 3, padding="same").padding == "same"
    assert nn.Conv2d(2, 2, (3, 4), padding="same", dilation=2)._reversed_padding_repeated_twice == [3, 3, 2, 2]
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        nn.Conv2d(2, 2, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="Invalid padding string 'full'"):
        nn.Conv2d(3, 4, 3, padding="full")


def test_norm_layers_parameters_and_buffers():
    bn = nn.BatchNorm2d(4)
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert [n for n, _ in bn.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    assert _np(bn.weight).tolist() == [1] * 4 and _np(bn.running_var).tolist() == [1] * 4
    assert bn.num_batches_tracked.dtype == ember.int64 and bn.num_batches_tracked.item() == 0
    bn2 = nn.BatchNorm1d(3, affine=False, track_running_stats=False)
    assert list(bn2.parameters()) == [] and list(bn2.buffers()) == [] and bn2.running_mean is None
    ln = nn.LayerNorm([2, 3])
    assert ln.normalized_shape == (2, 3) and ln.weight.shape == (2, 3)
    assert nn.LayerNorm(4, bias=False).bias is None
    gn = nn.GroupNorm(2, 4)
    assert gn.weight.shape == (4,)
    assert nn.GroupNorm(2, 4, bias=False).bias is None and nn.BatchNorm2d(3, bias=False).bias is None
    assert "bias=False" in repr(nn.BatchNorm2d(3, bias=False))
    with pytest.raises(ValueError, match=r"num_channels \(4\) must be divisible by num_groups \(3\)"):
        nn.GroupNorm(3, 4)


def test_embedding_init_padding_and_from_pretrained():
    ember.manual_seed(0)
    e = nn.Embedding(200, 50, padding_idx=-1)
    assert e.padding_idx == 199
    w = _np(e.weight)
    assert (w[199] == 0).all()
    assert w[:199].std() == pytest.approx(1.0, rel=0.05)
    pre = ember.randn(4, 3)
    f = nn.Embedding.from_pretrained(pre)
    assert not f.weight.requires_grad and f.weight.data_ptr() == pre.data_ptr()
    assert nn.Embedding.from_pretrained(pre, freeze=False).weight.requires_grad


def test_dropout_and_activation_constructors():
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)
    assert repr(nn.Dropout()) == "Dropout(p=0.5, inplace=False)"
    assert repr(nn.LeakyReLU(0.2, inplace=True)) == "LeakyReLU(negative_slope=0.2, inplace=True)"
    assert repr(nn.GELU("tanh")) == "GELU(approximate='tanh')"
    assert repr(nn.Softmax(dim=-1)) == "Softmax(dim=-1)"
    assert _np(nn.PReLU(3).weight).tolist() == pytest.approx([0.25] * 3)
    assert repr(nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
    assert nn.CrossEntropyLoss(reduction="sum").reduction == "sum"
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        assert nn.MSELoss(size_average=False).reduction == "sum"
    w = ember.ones(3)
    loss = nn.CrossEntropyLoss(weight=w)
    assert loss.weight is w and "weight" in loss.state_dict()


def test_identity_and_flatten_forward():
    x = ember.randn(2, 3, 4, 5)
    assert nn.Identity(54, unused="x")(x) is x
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    assert nn.Unflatten(1, (3, 1))(ember.zeros(2, 3)).shape == (2, 3, 1)


def test_conv_transpose_output_padding_from_output_size():
    ct = nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1)
    x = ember.zeros(1, 2, 4, 4)
    assert ct._output_padding(x, [8, 8], ct.stride, ct.padding, ct.kernel_size, 2, ct.dilation) == [1, 1]
    with pytest.raises(ValueError, match="requested an output size of"):
        ct._output_padding(x, [10, 10], ct.stride, ct.padding, ct.kernel_size, 2, ct.dilation)


# ---- layers: forwards that need ember.nn.functional ---------------------------------------------------
@needs_F("linear")
def test_linear_forward_matches_numpy():
    fc = nn.Linear(4, 3)
    x = ember.randn(5, 4)
    np.testing.assert_allclose(_np(fc(x)), _np(x) @ _np(fc.weight).T + _np(fc.bias), rtol=1e-5, atol=1e-6)


@needs_F("linear", "relu", "cross_entropy")
def test_small_mlp_trains():
    ember.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    x = ember.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = ember.tensor([0, 1, 1, 0])
    loss_fn = nn.CrossEntropyLoss()
    first = None
    for _ in range(300):
        loss = loss_fn(model(x), y)
        first = first if first is not None else loss.item()
        model.zero_grad()
        loss.backward()
        with ember.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
    assert loss.item() < 0.5 * first


@needs_F("batch_norm")
def test_batchnorm_updates_running_stats_in_training_only():
    bn = nn.BatchNorm1d(3)
    x = ember.randn(16, 3) * 2 + 1
    bn(x)
    assert bn.num_batches_tracked.item() == 1
    np.testing.assert_allclose(_np(bn.running_mean), 0.1 * _np(x).mean(0), rtol=1e-4, atol=1e-5)
    bn.eval()
    before = _np(bn.running_mean).copy()
    bn(x)
    np.testing.assert_array_equal(_np(bn.running_mean), before)
    assert bn.num_batches_tracked.item() == 1


@needs_F("conv2d")
def test_conv2d_same_padding_keeps_spatial_size():
    c = nn.Conv2d(2, 4, (3, 5), padding="same")
    assert c(ember.randn(1, 2, 7, 9)).shape == (1, 4, 7, 9)


@needs_F("dropout")
def test_dropout_is_identity_in_eval():
    d = nn.Dropout(0.5).eval()
    x = ember.randn(10)
    np.testing.assert_array_equal(_np(d(x)), _np(x))


# ---- nn.utils ---------------------------------------------------------------------------------
def _with_grads(*grads):
    ps = []
    for g in grads:
        p = nn.Parameter(ember.zeros(len(g)))
        p.grad = ember.tensor(g)
        ps.append(p)
    return ps


def test_clip_grad_norm_scales_to_max_norm_and_returns_total_norm():
    ps = _with_grads([3.0, 0.0], [0.0, 4.0])
    total = nn.utils.clip_grad_norm_(ps, max_norm=1.0)
    assert total.item() == pytest.approx(5.0)
    np.testing.assert_allclose(_np(ps[0].grad), [0.6, 0.0], rtol=1e-5)
    np.testing.assert_allclose(_np(ps[1].grad), [0.0, 0.8], rtol=1e-5)
    ps = _with_grads([0.3, 0.4])
    assert nn.utils.clip_grad_norm_(ps, 1.0).item() == pytest.approx(0.5)
    np.testing.assert_allclose(_np(ps[0].grad), [0.3, 0.4], rtol=1e-6)  # below max: unchanged
    ps = _with_grads([1.0, -7.0], [2.0])
    assert nn.utils.clip_grad_norm_(ps, 3.5, norm_type=math.inf).item() == 7.0
    np.testing.assert_allclose(_np(ps[0].grad), [0.5, -3.5], rtol=1e-5)
    ps = _with_grads([1.0, -2.0], [3.0])
    assert nn.utils.clip_grad_norm_(ps, 100.0, norm_type=1).item() == pytest.approx(6.0)
    assert nn.utils.clip_grad_norm_(_with_grads([1.0, 2.0]), 1.0, norm_type=3).item() == pytest.approx(9 ** (1 / 3))
    assert nn.utils.clip_grad_norm_([nn.Parameter(ember.zeros(2))], 1.0).item() == 0.0
    single = _with_grads([6.0, 8.0])[0]
    assert nn.utils.clip_grad_norm_(single, 5.0).item() == pytest.approx(10.0)


def test_clip_grad_norm_nonfinite():
    with pytest.raises(RuntimeError, match="is non-finite, so it cannot be clipped"):
        nn.utils.clip_grad_norm_(_with_grads([float("nan"), 1.0]), 1.0, error_if_nonfinite=True)


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_clip_grad_norm_matches_torch():
    rng = np.random.default_rng(0)
    gs = [rng.standard_normal(s).astype(np.float32) for s in [(3, 4), (5,), (2, 2, 2)]]
    for norm_type in (2.0, 1.0, 3.0, math.inf):
        ours = [nn.Parameter(ember.zeros(*g.shape)) for g in gs]
        theirs = [torch.nn.Parameter(torch.zeros(*g.shape)) for g in gs]
        for p, q, g in zip(ours, theirs, gs):
            p.grad = ember.tensor(g)
            q.grad = torch.tensor(g)
        a = nn.utils.clip_grad_norm_(ours, 0.7, norm_type)
        b = torch.nn.utils.clip_grad_norm_(theirs, 0.7, norm_type)
        assert a.item() == pytest.approx(b.item(), rel=1e-5)
        for p, q in zip(ours, theirs):
            np.testing.assert_allclose(_np(p.grad), q.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_clip_grad_value():
    ps = _with_grads([-3.0, 0.5, 2.0])
    assert nn.utils.clip_grad_value_(ps, 1.0) is None
    np.testing.assert_array_equal(_np(ps[0].grad), [-1.0, 0.5, 1.0])


def test_parameters_to_vector_and_back():
    net = Net()
    with ember.no_grad():
        for i, p in enumerate(net.parameters()):
            p.fill_(i)
    vec = nn.utils.parameters_to_vector(net.parameters())
    assert vec.shape == (24,)
    np.testing.assert_array_equal(_np(vec), np.repeat(np.arange(8), 3))
    w = net.first.w
    nn.utils.vector_to_parameters(ember.arange(24, dtype=ember.float32), net.parameters())
    assert net.first.w is w
    np.testing.assert_array_equal(_np(net.block[0].w), [6, 7, 8])
    with pytest.raises(TypeError, match="expected torch.Tensor, but got: list"):
        nn.utils.vector_to_parameters([1.0], net.parameters())


_ACTS = [("ReLU", (), {}), ("LeakyReLU", (0.2,), {}), ("ELU", (), {"alpha": 0.7}), ("SELU", (), {}),
         ("CELU", (), {}), ("GELU", (), {}), ("GELU", ("tanh",), {}), ("SiLU", (), {}), ("Mish", (), {}),
         ("Sigmoid", (), {}), ("Tanh", (), {}), ("Softplus", (2.0, 5.0), {}), ("Hardtanh", (-0.5, 0.5), {}),
         ("ReLU6", (), {}), ("Hardswish", (), {}), ("Hardsigmoid", (), {}), ("PReLU", (), {}),
         ("Softmax", (), {"dim": 1}), ("LogSoftmax", (), {"dim": -1}), ("Softmin", (), {"dim": 1})]
_F_OF = {"ReLU": "relu", "LeakyReLU": "leaky_relu", "ELU": "elu", "SELU": "selu", "CELU": "celu", "GELU": "gelu",
         "SiLU": "silu", "Mish": "mish", "Sigmoid": "sigmoid", "Tanh": "tanh", "Softplus": "softplus",
         "Hardtanh": "hardtanh", "ReLU6": "hardtanh", "Hardswish": "hardswish", "Hardsigmoid": "hardsigmoid",
         "PReLU": "prelu", "Softmax": "softmax", "LogSoftmax": "log_softmax", "Softmin": "softmin"}


@pytest.mark.parametrize("name,args,kwargs", _ACTS, ids=[a[0] + str(i) for i, a in enumerate(_ACTS)])
def test_activation_modules_forward_and_repr_match_torch(name, args, kwargs):
    if not hasattr(F, _F_OF[name]):
        pytest.skip(f"ember.nn.functional lacks {_F_OF[name]}")
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32) * 3
    m = getattr(nn, name)(*args, **kwargs)
    out = _np(m(ember.tensor(x)))
    assert out.shape == x.shape
    if torch is not None:
        tm = getattr(torch.nn, name)(*args, **kwargs)
        np.testing.assert_allclose(out, tm(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)
        assert repr(m) == repr(tm)


_LOSSES = [("MSELoss", {}, "float"), ("L1Loss", {"reduction": "sum"}, "float"),
           ("SmoothL1Loss", {"beta": 0.5}, "float"),
           ("HuberLoss", {"delta": 0.7}, "float"), ("BCELoss", {}, "prob"), ("BCEWithLogitsLoss", {}, "prob"),
           ("KLDivLoss", {"reduction": "batchmean"}, "logprob"), ("CrossEntropyLoss", {"label_smoothing": 0.1}, "cls"),
           ("NLLLoss", {"reduction": "none"}, "cls")]
_LOSS_F = {"MSELoss": "mse_loss", "L1Loss": "l1_loss", "SmoothL1Loss": "smooth_l1_loss", "HuberLoss": "huber_loss",
           "BCELoss": "binary_cross_entropy", "BCEWithLogitsLoss": "binary_cross_entropy_with_logits",
           "KLDivLoss": "kl_div", "CrossEntropyLoss": "cross_entropy", "NLLLoss": "nll_loss"}


@pytest.mark.parametrize("name,kwargs,kind", _LOSSES, ids=[n for n, _, _ in _LOSSES])
def test_loss_modules_match_torch(name, kwargs, kind):
    if not hasattr(F, _LOSS_F[name]):
        pytest.skip(f"ember.nn.functional lacks {_LOSS_F[name]}")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    if kind == "float":
        y = rng.standard_normal((6, 4)).astype(np.float32)
    elif kind == "prob":
        x = 1 / (1 + np.exp(-x)) if name == "BCELoss" else x
        y = rng.uniform(size=(6, 4)).astype(np.float32)
    elif kind == "logprob":
        x = x - np.log(np.exp(x).sum(1, keepdims=True))
        y = rng.dirichlet(np.ones(4), size=6).astype(np.float32)
    else:
        y = rng.integers(0, 4, size=6)
    ours = _np(getattr(nn, name)(**kwargs)(ember.tensor(x), ember.tensor(y)))
    if torch is not None:
        theirs = getattr(torch.nn, name)(**kwargs)(torch.tensor(x), torch.tensor(y)).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


@needs_F("layer_norm", "group_norm", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d")
def test_norm_and_pool_modules_match_torch():
    x = np.random.default_rng(2).standard_normal((2, 4, 6, 6)).astype(np.float32)
    mods = [("LayerNorm", ([6, 6],)), ("GroupNorm", (2, 4)), ("MaxPool2d", (3, 2, 1)), ("AvgPool2d", (2,)),
            ("AdaptiveAvgPool2d", ((2, 3),)), ("AdaptiveMaxPool2d", (3,)), ("BatchNorm2d", (4,))]
    for name, args in mods:
        out = _np(getattr(nn, name)(*args)(ember.tensor(x)))
        if torch is not None:
            ref = getattr(torch.nn, name)(*args)(torch.tensor(x)).detach().numpy()
            np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5, err_msg=name)
