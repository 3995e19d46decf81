"""Optimizers: 100 steps of every optimizer and option combination against a float64 NumPy
implementation of torch's documented update rule (and against torch.optim when installed),
state_dict round trips, and bit-identical resume from a checkpoint."""
import math

import numpy as np
import pytest

import ember
import ember.optim as optim

try:
    import torch
except ImportError:  # torch is an optional oracle
    torch = None

SHAPES = [(5, 3), (7,), (1,)]


def _lerp(a, b, w):
    return a + w * (b - a) if w < 0.5 else b - (b - a) * (1 - w)


def ref_step(name, cfg, ps, gs, state):
    """One step of torch's documented rule, on float64 NumPy arrays (ps updated in place)."""
    lr = cfg.get("lr", DEFAULT_LR[name])
    wd = cfg.get("weight_decay", 0.0 if name != "AdamW" else 1e-2)
    maximize = cfg.get("maximize", False)
    for i, (p, g0) in enumerate(zip(ps, gs)):
        if g0 is None:
            continue
        st = state.setdefault(i, {})
        g = -g0 if maximize else g0.copy()
        if name == "SGD":
            mom, damp, nest = cfg.get("momentum", 0.0), cfg.get("dampening", 0.0), cfg.get("nesterov", False)
            if wd:
                g = g + wd * p
            if mom:
                if "buf" not in st:
                    st["buf"] = g.copy()
                else:
                    st["buf"] = st["buf"] * mom + (1 - damp) * g
                g = g + mom * st["buf"] if nest else st["buf"]
            p += -lr * g
        elif name in ("Adam", "AdamW"):
            b1, b2 = cfg.get("betas", (0.9, 0.999))
            eps = cfg.get("eps", 1e-8)
            st["step"] = t = st.get("step", 0) + 1
            for k in ("m", "v", "vmax"):
                st.setdefault(k, np.zeros_like(p))
            if name == "AdamW" or cfg.get("decoupled_weight_decay"):
                p *= 1 - lr * wd
            elif wd:
                g = g + wd * p
            st["m"] = _lerp(st["m"], g, 1 - b1)
            st["v"] = st["v"] * b2 + (1 - b2) * g * g
            bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
            if cfg.get("amsgrad"):
                st["vmax"] = np.maximum(st["vmax"], st["v"])
                denom = np.sqrt(st["vmax"]) / math.sqrt(bc2) + eps
            else:
                denom = np.sqrt(st["v"]) / math.sqrt(bc2) + eps
            p += -(lr / bc1) * st["m"] / denom
        elif name == "RMSprop":
            alpha, eps, mom = cfg.get("alpha", 0.99), cfg.get("eps", 1e-8), cfg.get("momentum", 0.0)
            for k in ("sq", "buf", "ga"):
                st.setdefault(k, np.zeros_like(p))
            if wd:
                g = g + wd * p
            st["sq"] = st["sq"] * alpha + (1 - alpha) * g * g
            if cfg.get("centered"):
                st["ga"] = _lerp(st["ga"], g, 1 - alpha)
                avg = np.sqrt(st["sq"] - st["ga"] * st["ga"])
            else:
                avg = np.sqrt(st["sq"])
            avg = avg + eps
            if mom > 0:
                st["buf"] = st["buf"] * mom + g / avg
                p += -lr * st["buf"]
            else:
                p += -lr * g / avg
        elif name == "Adagrad":
            lr_decay, eps = cfg.get("lr_decay", 0.0), cfg.get("eps", 1e-10)
            st.setdefault("sum", np.full_like(p, cfg.get("initial_accumulator_value", 0.0)))
            st["step"] = t = st.get("step", 0) + 1
            if wd:
                g = g + wd * p
            clr = lr / (1 + (t - 1) * lr_decay)
            st["sum"] = st["sum"] + g * g
            p += -clr * g / (np.sqrt(st["sum"]) + eps)
        elif name == "Adadelta":
            rho, eps = cfg.get("rho", 0.9), cfg.get("eps", 1e-6)
            for k in ("sq", "acc"):
                st.setdefault(k, np.zeros_like(p))
            if wd:
                g = g + wd * p
            st["sq"] = st["sq"] * rho + (1 - rho) * g * g
            std = np.sqrt(st["sq"] + eps)
            delta = np.sqrt(st["acc"] + eps) / std * g
            st["acc"] = st["acc"] * rho + (1 - rho) * delta * delta
            p += -lr * delta
        elif name == "Rprop":
            etaminus, etaplus = cfg.get("etas", (0.5, 1.2))
            lo, hi = cfg.get("step_sizes", (1e-6, 50))
            st.setdefault("prev", np.zeros_like(p))
            st.setdefault("size", np.full_like(p, lr))
            prod = g * st["prev"]
            factor = np.where(prod > 0, etaplus, np.where(prod < 0, etaminus, 1.0))
            st["size"] = np.clip(st["size"] * factor, lo, hi)
            g = np.where(factor == etaminus, 0.0, g)
            p += -np.sign(g) * st["size"]
            st["prev"] = g
        elif name == "NAdam":
            b1, b2 = cfg.get("betas", (0.9, 0.999))
            eps, md = cfg.get("eps", 1e-8), cfg.get("momentum_decay", 4e-3)
            st["step"] = t = st.get("step", 0) + 1
            for k in ("m", "v"):
                st.setdefault(k, np.zeros_like(p))
            mu_prod = st.get("mu_product", 1.0)
            bc2 = 1 - b2 ** t
            if wd:
                if cfg.get("decoupled_weight_decay"):
                    p *= 1 - lr * wd
                else:
                    g = g + wd * p
            mu = b1 * (1.0 - 0.5 * 0.96 ** (t * md))
            mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * md))
            mu_prod = float(np.float32(np.float32(mu_prod) * np.float32(mu)))  # torch's float32 scalar state
            st["mu_product"] = mu_prod
            st["m"] = _lerp(st["m"], g, 1 - b1)
            st["v"] = st["v"] * b2 + (1 - b2) * g * g
            denom = np.sqrt(st["v"] / bc2) + eps
            p += (-lr * (1 - mu) / (1 - mu_prod)) * g / denom
            p += ((-lr * mu_next) / (1 - mu_prod * mu_next)) * st["m"] / denom
        else:
            raise AssertionError(name)


DEFAULT_LR = {"SGD": 1e-3, "Adam": 1e-3, "AdamW": 1e-3, "RMSprop": 1e-2, "Adagrad": 1e-2, "Adadelta": 1.0,
              "Rprop": 1e-2, "NAdam": 2e-3}

CASES = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "maximize": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "maximize": True}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True, "maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "centered": True, "maximize": True}),
    ("RMSprop", {"lr": 0.001, "momentum": 0.5, "eps": 1e-4}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1, "weight_decay": 0.1}),
    ("Adagrad", {"lr": 0.1, "eps": 1e-6, "maximize": True}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.95, "eps": 1e-5, "weight_decay": 0.1, "maximize": True}),
    ("Rprop", {}),
    ("Rprop", {"lr": 0.05, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.2), "maximize": True}),
    ("NAdam", {}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "momentum_decay": 1e-2}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in c.items()) or 'defaults'}" for n, c in CASES]


def _grad_fn(p, i, step):
    # a smooth, parameter-dependent gradient whose sign changes now and then (exercises Rprop)
    return 2.0 * (p - 0.3 * (i + 1)) + 0.5 * np.cos(3.0 * p + 0.7 * step)


def _initial(rng):
    return [rng.standard_normal(s) for s in SHAPES]


def _run_ember(name, cfg, init, steps, dtype=ember.float64, none_grad_at=(), opt_state=None):
    params = [ember.tensor(a.copy(), dtype=dtype, requires_grad=True) for a in init]
    opt = getattr(optim, name)(params, **cfg)
    if opt_state is not None:
        opt.load_state_dict(opt_state)
    for step in range(steps):
        for i, p in enumerate(params):
            g = None if (step, i) in none_grad_at else _grad_fn(p.detach().numpy().astype(np.float64), i, step)
            p.grad = None if g is None else ember.tensor(g, dtype=dtype)
        opt.step()
    return params, opt


def _run_ref(name, cfg, init, steps, none_grad_at=()):
    ps = [a.copy() for a in init]
    state = {}
    for step in range(steps):
        gs = [None if (step, i) in none_grad_at else _grad_fn(p, i, step) for i, p in enumerate(ps)]
        ref_step(name, cfg, ps, gs, state)
    return ps


@pytest.mark.parametrize("name,cfg", CASES, ids=IDS)
def test_optimizer_matches_float64_reference_over_100_steps(name, cfg, rng):
    init = _initial(rng)
    skip = {(3, 1), (4, 1), (10, 0)}  # grads that are None are skipped
    params, _ = _run_ember(name, cfg, init, 100, none_grad_at=skip)
    ref = _run_ref(name, cfg, init, 100, none_grad_at=skip)
    for p, r in zip(params, ref):
        np.testing.assert_allclose(p.detach().numpy(), r, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name,cfg", CASES, ids=IDS)
def test_optimizer_float32_tracks_float64_reference(name, cfg, rng):
    init = [a.astype(np.float32).astype(np.float64) for a in _initial(rng)]
    params, _ = _run_ember(name, cfg, init, 20, dtype=ember.float32)
    ref = _run_ref(name, cfg, init, 20)
    for p, r in zip(params, ref):
        assert p.dtype == ember.float32
        np.testing.assert_allclose(p.detach().numpy(), r, rtol=2e-4, atol=2e-5)


@pytest.mark.skipif(torch is None, reason="torch not installed")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,cfg", CASES, ids=IDS)
def test_optimizer_matches_torch_optim(name, cfg, dtype, rng):
    init = _initial(rng)
    if dtype == "float32":
        init = [a.astype(np.float32).astype(np.float64) for a in init]
    steps = 100 if dtype == "float64" else 30
    params, _ = _run_ember(name, cfg, init, steps, dtype=getattr(ember, dtype))
    tparams = [torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=True) for a in init]
    topt = getattr(torch.optim, name)(tparams, **cfg)
    for step in range(steps):
        for i, p in enumerate(tparams):
            g = _grad_fn(p.detach().numpy().astype(np.float64), i, step)
            p.grad = torch.tensor(g, dtype=getattr(torch, dtype))
        topt.step()
    rtol, atol = (1e-6, 1e-9) if dtype == "float64" else (2e-5, 2e-6)
    for p, t in zip(params, tparams):
        np.testing.assert_allclose(p.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol)


def test_state_dict_has_torch_format_and_round_trips(rng):
    init = _initial(rng)
    _, opt = _run_ember("Adam", {"lr": 0.01, "amsgrad": True}, init, 3)
    sd = opt.state_dict()
    assert sorted(sd) == ["param_groups", "state"]
    assert sd["param_groups"][0]["params"] == [0, 1, 2]
    assert sd["param_groups"][0]["lr"] == 0.01
    assert set(sd["state"]) == {0, 1, 2}
    assert sd["state"][0]["step"] == 3.0
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    params = [ember.tensor(a) for a in init]
    opt2 = optim.Adam(params, lr=0.5)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == 0.01 and opt2.param_groups[0]["params"] is not None
    np.testing.assert_array_equal(opt2.state[params[1]]["exp_avg"].numpy(), sd["state"][1]["exp_avg"].numpy())
    assert not opt2.state[params[1]]["exp_avg"]._c.shares_storage(sd["state"][1]["exp_avg"]._c)


@pytest.mark.parametrize("name,cfg", CASES, ids=IDS)
def test_resume_from_checkpoint_is_bit_identical(name, cfg, rng, tmp_path):
    init = _initial(rng)
    full, _ = _run_ember(name, cfg, init, 12)
    first, opt = _run_ember(name, cfg, init, 5)
    ember.save({"params": [p.detach() for p in first], "optim": opt.state_dict()}, tmp_path / "ckpt.safetensors")
    ck = ember.load(tmp_path / "ckpt.safetensors")
    resumed_init = [p.numpy() for p in ck["params"]]
    params = [ember.tensor(a.copy(), requires_grad=True) for a in resumed_init]
    opt2 = getattr(optim, name)(params, **cfg)
    opt2.load_state_dict(ck["optim"])
    for step in range(5, 12):
        for i, p in enumerate(params):
            p.grad = ember.tensor(_grad_fn(p.detach().numpy(), i, step))
        opt2.step()
    for a, b in zip(full, params):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_load_state_dict_from_other_model_names_group_param_and_shapes(rng):
    a = [ember.zeros(3, 2, requires_grad=True)]
    opt = optim.Adam(a)
    a[0].grad = ember.ones(3, 2)
    opt.step()
    b = [ember.zeros(4, requires_grad=True)]
    with pytest.raises(ValueError, match=r"param 0 of group 0.*\(3, 2\).*\(4,\)"):
        optim.Adam(b).load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match="doesn't match the size"):
        optim.Adam([ember.zeros(3, 2), ember.zeros(1)]).load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.Adam([{"params": [ember.zeros(3, 2)]}, {"params": [ember.zeros(1)]}]).load_state_dict(opt.state_dict())


def test_param_groups_use_their_own_hyperparameters():
    w, b = ember.ones(2, requires_grad=True), ember.ones(2, requires_grad=True)
    opt = optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.0)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["lr"] == 0.5
    assert opt.param_groups[1]["momentum"] == 0.0
    w.grad, b.grad = ember.ones(2), ember.ones(2)
    opt.step()
    np.testing.assert_allclose(w.detach().numpy(), [0.9, 0.9])
    np.testing.assert_allclose(b.detach().numpy(), [0.5, 0.5])


def test_add_param_group_rejects_duplicates_and_missing_required():
    w = ember.ones(2, requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [w]})
    with pytest.raises(ValueError, match="duplicate"):
        optim.SGD([w, w], lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError):
        optim.SGD(w, lr=0.1)


def test_zero_grad_sets_to_none_or_zeros():
    w = ember.ones(2, requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    w.grad = ember.ones(2)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(w.grad.numpy(), [0, 0])
    opt.zero_grad()
    assert w.grad is None


def test_params_without_grad_or_requires_grad_are_allowed():
    frozen = ember.ones(3)
    w = ember.ones(3, requires_grad=True)
    opt = optim.Adam([frozen, w], lr=0.1)
    w.grad = ember.ones(3)
    opt.step()
    np.testing.assert_array_equal(frozen.numpy(), [1, 1, 1])
    assert frozen not in opt.state and w in opt.state


def test_step_with_closure_returns_loss_and_trains():
    ember.manual_seed(0)
    w = ember.tensor([3.0, -2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1, momentum=0.9)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    first = opt.step(closure).item()
    for _ in range(100):
        loss = opt.step(closure)
    assert loss.item() < 1e-3 * first


def test_step_bumps_version_counter():
    w = ember.ones(2, requires_grad=True)
    v = w._version
    opt = optim.SGD([w], lr=0.1)
    w.grad = ember.ones(2)
    opt.step()
    assert w._version > v


@pytest.mark.parametrize("make,msg", [
    (lambda p: optim.SGD(p, lr=-0.1), "Invalid learning rate: -0.1"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-1), "Invalid momentum value: -1"),
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1), "Invalid weight_decay value: -1"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.9)), "Invalid beta parameter at index 0: 1.0"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (lambda p: optim.AdamW(p, eps=-1.0), "Invalid epsilon value: -1.0"),
    (lambda p: optim.RMSprop(p, alpha=-1.0), "Invalid alpha value: -1.0"),
    (lambda p: optim.Adagrad(p, lr_decay=-1.0), "Invalid lr_decay value: -1.0"),
    (lambda p: optim.Adadelta(p, rho=1.5), "Invalid rho value: 1.5"),
    (lambda p: optim.Rprop(p, etas=(1.5, 1.2)), "Invalid eta values: 1.5, 1.2"),
    (lambda p: optim.NAdam(p, momentum_decay=-1.0), "Invalid momentum_decay value: -1.0"),
])
def test_bad_hyperparameters_raise_torch_messages(make, msg):
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        make([ember.ones(2, requires_grad=True)])


def test_fused_step_handles_large_tensors_across_threads(rng):
    big = rng.standard_normal(200_003)
    p = ember.tensor(big.copy(), requires_grad=True)
    opt = optim.Adam([p], lr=0.01)
    g = np.cos(big)
    for _ in range(3):
        p.grad = ember.tensor(g)
        opt.step()
    ps = [big.copy()]
    state = {}
    for _ in range(3):
        ref_step("Adam", {"lr": 0.01}, ps, [g], state)
    np.testing.assert_allclose(p.detach().numpy(), ps[0], rtol=1e-12, atol=1e-15)
