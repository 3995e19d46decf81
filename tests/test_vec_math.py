"""float32 exp, log, sin, cos, tanh and sigmoid run on ember's own vectorised approximations
(csrc/cpu/kernels/vec_math.h): within 2 ulp of the correctly rounded result over every float32
exponent range (sigmoid, which adds a division to exp, within 3), and libm's answers on NaN,
infinities, zeros and subnormals."""
import numpy as np
import pytest

import ember


def _ulp_error(got, want64):
    """|got - want| in units of the float32 spacing at want (subnormal spacing near 0)."""
    want32 = want64.astype(np.float32)
    spacing = np.spacing(np.abs(want32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - want64) / spacing


def _all_ranges(rng, n, lo_exp=-149, hi_exp=127):
    """Floats of both signs spread over every binary exponent in [lo_exp, hi_exp]."""
    e = rng.uniform(lo_exp, hi_exp, n)
    return (np.sign(rng.standard_normal(n)) * 2.0 ** e).astype(np.float32)


def _run(name, x):
    return getattr(ember, name)(ember.from_numpy(x)).numpy()


@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_exp_within_2_ulp_everywhere(rng, layout):
    x = np.concatenate([rng.uniform(-104, 89, 400_000).astype(np.float32), _all_ranges(rng, 100_000, -149, 7)])
    if layout == "strided":
        got = ember.exp(ember.from_numpy(np.repeat(x, 2))[::2]).numpy()
    else:
        got = _run("exp", x)
    want = np.exp(x.astype(np.float64))
    with np.errstate(over="ignore"):
        finite = np.isfinite(want.astype(np.float32))
    assert _ulp_error(got[finite], want[finite]).max() <= 2.0
    assert np.array_equal(np.isinf(got), ~finite)


def test_exp_blocks_in_the_normal_range_take_the_short_path_with_the_same_bits(rng):
    # Contiguous blocks of 256 whose values all give normal results skip exp_f32's clamps and
    # two-step scaling; strided input goes element by element through exp_f32 itself.
    x = rng.uniform(-86, 88, 300_001).astype(np.float32)
    x[:3] = [-86.0, 88.0, 0.0]
    x[1000] = np.nan  # one block with a special value takes the full path
    x[5000] = -100.0
    got = _run("exp", x)
    ref = ember.exp(ember.from_numpy(np.repeat(x, 2))[::2]).numpy()
    np.testing.assert_array_equal(got, ref)
    ok = np.isfinite(x)
    assert _ulp_error(got[ok], np.exp(x[ok].astype(np.float64))).max() <= 2.0
    lse = ember.logsumexp(ember.from_numpy(x[None, 1001:5000].copy()), 1).item()
    assert abs(lse - np.log(np.exp(x[1001:5000].astype(np.float64)).sum())) <= 1e-6 * abs(lse) + 1e-6


def test_log_within_2_ulp_everywhere(rng):
    x = np.abs(_all_ranges(rng, 500_000))
    x = np.concatenate([x, rng.uniform(0.5, 2.0, 100_000).astype(np.float32)])  # around 1, where log is small
    got = _run("log", x)
    want = np.log(x.astype(np.float64))
    assert _ulp_error(got, want).max() <= 2.0


@pytest.mark.parametrize("name", ["sin", "cos"])
def test_sin_cos_within_2_ulp_small_and_large_arguments(rng, name):
    x = np.concatenate([rng.uniform(-10, 10, 200_000), rng.uniform(-70000, 70000, 200_000),
                        _all_ranges(rng, 100_000, -149, 30)]).astype(np.float32)
    got = _run(name, x)
    want = getattr(np, name)(x.astype(np.float64))
    # Relative to the result, except where the result is near 0 (there the absolute error counts).
    err = np.abs(got.astype(np.float64) - want)
    assert (err <= 2 * np.spacing(np.maximum(np.abs(want), 1e-6).astype(np.float32))).all()


def test_special_values_match_numpy():
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1.1754942e-38, 88.72283, 88.72284,
                        -103.97207, -103.97209, -87.5, 1.0, 3.4028235e38, -3.4028235e38, 65536.0, 65537.0],
                       dtype=np.float32)
    with np.errstate(all="ignore"):
        for name in ("exp", "log", "sin", "cos"):
            got = _run(name, special)
            want = getattr(np, name)(special.astype(np.float64)).astype(np.float32)
            np.testing.assert_array_max_ulp(got, want, maxulp=2)  # NaN == NaN, inf == inf
            if name == "log":
                assert np.signbit(got[1]) and np.isneginf(got[1])  # log(-0) = -inf


def test_sigmoid_matches_reference_and_saturates(rng):
    x = np.concatenate([rng.uniform(-30, 30, 200_000), [-200, -104, -88, 0, 88, 200, np.inf, -np.inf]]).astype(
        np.float32)
    got = _run("sigmoid", x)
    want = 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
    assert (np.abs(got - want) <= 3 * np.spacing(want.astype(np.float32))).all()
    assert np.isnan(_run("sigmoid", np.array([np.nan], np.float32)))[0]


def test_tanh_within_2_ulp_everywhere(rng):
    # dense around the switch from the polynomial to the exp form (0.625) and around saturation (9)
    x = np.concatenate([rng.uniform(-12, 12, 300_000), rng.uniform(0.6, 0.65, 50_000), rng.uniform(8.9, 9.2, 50_000),
                        _all_ranges(rng, 100_000, -149, 10)]).astype(np.float32)
    got = _run("tanh", x)
    want = np.tanh(x.astype(np.float64))
    assert _ulp_error(got, want).max() <= 2.0
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e30, -1e30, 1e-45, -1e-45], np.float32)
    got = _run("tanh", special)
    np.testing.assert_array_equal(got, np.tanh(special))
    assert np.signbit(got[1]) and not np.signbit(got[0])


def _normal_cdf64(x):
    from math import erfc, sqrt
    return np.array([0.5 * erfc(-v / sqrt(2.0)) for v in x])


def test_exact_gelu_and_its_gradient_in_float32_hold_in_both_tails(rng):
    # gelu = x Phi(x) with Phi from vec_math's erfc: within 1e-6 relative down to x = -3; below, the
    # rounding of x / sqrt(2) itself (2^-24 relative, times x^2 in the exponent) sets the limit.
    import ember.nn.functional as F
    bulk = np.concatenate([rng.uniform(-3, 6, 100_000), rng.uniform(-0.6, 0.6, 20_000)]).astype(np.float32)
    tail = rng.uniform(-14.5, -3, 20_000).astype(np.float32)  # past -12.65: exp(-x^2/2) in two factors
    for x, rtol, grad_atol in ((bulk, 1e-6, 1e-6), (tail, 2e-5, 1e-30)):  # gelu' crosses 0 near -0.75
        x64 = x.astype(np.float64)
        cdf = _normal_cdf64(x64)
        np.testing.assert_allclose(F.gelu(ember.from_numpy(x)).numpy(), x64 * cdf, rtol=rtol, atol=1e-30)
        t = ember.from_numpy(x.copy()).requires_grad_()
        F.gelu(t).sum().backward()
        want = cdf + x64 * np.exp(-0.5 * x64 * x64) / np.sqrt(2 * np.pi)
        np.testing.assert_allclose(t.grad.numpy(), want, rtol=max(rtol, 2e-6), atol=grad_atol)
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 30.0, -30.0], np.float32)
    got = F.gelu(ember.from_numpy(x)).numpy()
    np.testing.assert_array_equal(got[[0, 1, 2, 5, 6]], [0.0, -0.0, np.inf, 30.0, -0.0])
    assert np.isnan(got[3]) and np.isnan(got[4])  # -inf * Phi(-inf) = -inf * 0, as in torch


def test_exact_gelu_blocks_near_and_far_give_the_bits_of_each_element_alone(rng):
    # float32 GELU takes erfc's near form for blocks of 256 with every |x| <= 12.5 and the general
    # form otherwise: an element's result must not depend on its neighbours, nor on the layout.
    import ember.nn.functional as F
    x = rng.uniform(-12.5, 12.5, 256 * 40).astype(np.float32)
    x[256 * 3 + 7] = -14.0        # one block with a far-tail element
    x[256 * 5 + 100] = np.nan     # one with a NaN
    x[256 * 9 + 255] = 12.6       # one just past the near bound
    whole = F.gelu(ember.from_numpy(x)).numpy()
    alone = np.array([F.gelu(ember.from_numpy(x[i:i + 1])).numpy()[0] for i in range(0, x.size, 97)])
    np.testing.assert_array_equal(whole[::97].view(np.uint32), alone.view(np.uint32))
    strided = F.gelu(ember.from_numpy(np.repeat(x, 2)[::2].copy()).view(-1)).numpy()
    np.testing.assert_array_equal(whole.view(np.uint32), strided.view(np.uint32))
    pairs = ember.from_numpy(np.stack([x, x], 1))[:, 0]  # a stride-2 view
    np.testing.assert_array_equal(whole.view(np.uint32), F.gelu(pairs).numpy().view(np.uint32))
    x64 = x.astype(np.float64)
    bulk = x64 >= -3  # below, x / sqrt(2)'s rounding sets the limit (the test above)
    np.testing.assert_allclose(whole[bulk], x64[bulk] * _normal_cdf64(x64[bulk]), rtol=1e-6, atol=1e-30)
    assert np.isnan(whole[256 * 5 + 100])


def test_in_place_trig_beyond_the_fast_range_uses_the_original_values():
    x = np.array([1.0, 1e6, -3e7, 2.0, np.nan] * 100, dtype=np.float32)
    t = ember.from_numpy(x.copy())
    t.sin_()
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_max_ulp(t.numpy(), np.sin(x.astype(np.float64)).astype(np.float32), maxulp=2)
