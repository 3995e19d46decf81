"""LR schedulers against their closed forms, torch's recursive forms, and torch itself when
installed; state_dict round trips."""
import math

import pytest

import ember
from ember.optim import SGD, Adam
from ember.optim import lr_scheduler as sched

try:
    import torch
except ImportError:
    torch = None


def _opt(lr=0.1, groups=1, cls=SGD, **kw):
    return cls([{"params": [ember.zeros(1, requires_grad=True)], "lr": lr * (g + 1)} for g in range(groups)],
               lr=lr, **kw)


def _lrs(opt, scheduler, steps):
    out = [scheduler.get_last_lr()]
    for _ in range(steps):
        opt.step()
        scheduler.step()
        out.append(scheduler.get_last_lr())
    return out


def _close(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x == pytest.approx(y, rel=1e-12, abs=1e-15)


CLOSED = [
    ("StepLR", dict(step_size=3, gamma=0.5), lambda base, t: base * 0.5 ** (t // 3)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 9], gamma=0.1),
     lambda base, t: base * 0.1 ** sum(m <= t for m in [2, 5, 5, 9])),
    ("ExponentialLR", dict(gamma=0.9), lambda base, t: base * 0.9 ** t),
    ("CosineAnnealingLR", dict(T_max=10, eta_min=0.001),
     lambda base, t: 0.001 + (base - 0.001) * (1 + math.cos(math.pi * t / 10)) / 2),
    ("LambdaLR", dict(lr_lambda=lambda e: 1.0 / (e + 1)), lambda base, t: base / (t + 1)),
    ("LinearLR", dict(start_factor=0.25, end_factor=1.0, total_iters=4),
     lambda base, t: base * (0.25 + 0.75 * min(4, t) / 4)),
]


@pytest.mark.parametrize("name,kw,closed", CLOSED, ids=[c[0] for c in CLOSED])
def test_scheduler_matches_closed_form(name, kw, closed):
    opt = _opt(groups=2)
    s = getattr(sched, name)(opt, **kw)
    lrs = _lrs(opt, s, 15)
    for t, row in enumerate(lrs):
        _close(row, [closed(0.1, t), closed(0.2, t)])
    assert [g["lr"] for g in opt.param_groups] == lrs[-1]


@pytest.mark.skipif(torch is None, reason="torch not installed")
@pytest.mark.parametrize("name,kw", [(c[0], c[1]) for c in CLOSED] + [
    ("OneCycleLR", dict(max_lr=1.0, total_steps=20)),
    ("OneCycleLR", dict(max_lr=[1.0, 2.0], total_steps=20, three_phase=True, anneal_strategy="linear")),
    ("CosineAnnealingLR", dict(T_max=4)),
], ids=lambda x: x if isinstance(x, str) else "")
def test_scheduler_matches_torch(name, kw):
    opt = _opt(groups=2)
    tparams = [{"params": [torch.zeros(1, requires_grad=True)], "lr": 0.1 * (g + 1)} for g in range(2)]
    topt = torch.optim.SGD(tparams, lr=0.1, momentum=0.9)
    opt = _opt(groups=2, momentum=0.9)
    s = getattr(sched, name)(opt, **kw)
    ts = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    steps = 19 if name == "OneCycleLR" else 25
    ours = _lrs(opt, s, steps)
    theirs = [ts.get_last_lr()]
    for _ in range(steps):
        topt.step()
        ts.step()
        theirs.append(ts.get_last_lr())
    for a, b in zip(ours, theirs):
        _close(a, b)
    _close([g["momentum"] for g in opt.param_groups], [g["momentum"] for g in topt.param_groups])


def test_one_cycle_shape_and_momentum_cycling():
    opt = _opt(lr=0.1, momentum=0.9)
    s = sched.OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=0.3)
    lrs = [lr[0] for lr in _lrs(opt, s, 9)]
    assert lrs[0] == pytest.approx(1.0 / 25)
    assert max(lrs) == pytest.approx(1.0)
    assert lrs[-1] == pytest.approx(1.0 / 25 / 1e4)
    peak = lrs.index(max(lrs))
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.95)
    assert all(a <= b for a, b in zip(lrs[:peak], lrs[1:peak + 1]))
    s.step()  # step 10 of 10 is the last allowed
    with pytest.raises(ValueError, match="Tried to step 11 times"):
        s.step()
    adam = _opt(cls=Adam)
    sched.OneCycleLR(adam, max_lr=0.01, total_steps=5)
    assert adam.param_groups[0]["betas"][0] == pytest.approx(0.95)


def test_reduce_lr_on_plateau():
    opt = _opt(lr=1.0)
    s = sched.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=2, cooldown=1, min_lr=0.1)
    history = []
    for metric in [10, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]:
        s.step(metric)
        history.append(s.get_last_lr()[0])
    assert history == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.125]
    for _ in range(20):
        s.step(9)
    assert s.get_last_lr()[0] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="Factor should be < 1.0."):
        sched.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode avg is unknown"):
        sched.ReduceLROnPlateau(opt, mode="avg")


def test_sequential_lr_warmup_then_cosine():
    opt = _opt(lr=1.0)
    warm = sched.LinearLR(opt, start_factor=0.1, total_iters=3)
    cos = sched.CosineAnnealingLR(opt, T_max=5)
    s = sched.SequentialLR(opt, [warm, cos], milestones=[3])
    lrs = [lr[0] for lr in _lrs(opt, s, 8)]
    expected = [0.1, 0.4, 0.7, 1.0] + [(1 + math.cos(math.pi * t / 5)) / 2 for t in range(1, 6)]
    for a, b in zip(lrs, expected):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-15)
    with pytest.raises(ValueError, match="one more than the number of milestone"):
        sched.SequentialLR(opt, [warm, cos], milestones=[])


@pytest.mark.parametrize("make", [
    lambda o: sched.StepLR(o, 2, 0.5),
    lambda o: sched.CosineAnnealingLR(o, 7),
    lambda o: sched.OneCycleLR(o, max_lr=1.0, total_steps=30),
    lambda o: sched.SequentialLR(o, [sched.LinearLR(o, 0.5, total_iters=2), sched.ExponentialLR(o, 0.9)], [2]),
])
def test_state_dict_round_trip_resumes_schedule(make):
    opt = _opt(momentum=0.9)
    s = make(opt)
    full = _lrs(opt, s, 12)
    opt1 = _opt(momentum=0.9)
    s1 = make(opt1)
    _lrs(opt1, s1, 5)
    sd, osd = s1.state_dict(), opt1.state_dict()
    assert "optimizer" not in sd
    opt2 = _opt(momentum=0.9)
    s2 = make(opt2)
    opt2.load_state_dict(osd)
    s2.load_state_dict(sd)
    resumed = _lrs(opt2, s2, 7)
    for a, b in zip(full[5:], resumed):
        _close(a, b)


def test_linear_lr_rejects_bad_factors():
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        sched.LinearLR(_opt(), start_factor=0)
    with pytest.raises(ValueError, match="Ending multiplicative factor"):
        sched.LinearLR(_opt(), end_factor=2)
