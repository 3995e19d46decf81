"""The CUDA backend agrees with the CPU: transfers, elementwise ops, reductions, random draws and
memory statistics. Skipped unless ember.cuda.is_available()."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ember

requires_cuda = pytest.mark.skipif(not ember.cuda.is_available(), reason="CUDA is not available")

DTYPES = [ember.bool, ember.uint8, ember.int32, ember.int64, ember.float32, ember.float64]


def cpu_np(t):
    return t.cpu().numpy()


def sample(rng, shape, dtype):
    if dtype is ember.bool:
        return rng.random(shape) < 0.5
    if dtype in (ember.uint8,):
        return rng.integers(0, 256, shape).astype(np.uint8)
    if dtype in (ember.int32, ember.int64):
        return rng.integers(-1000, 1000, shape).astype(np.int32 if dtype is ember.int32 else np.int64)
    return rng.standard_normal(shape).astype(np.float32 if dtype is ember.float32 else np.float64)


def test_is_available_is_a_bool_and_never_raises():
    assert isinstance(ember.cuda.is_available(), bool)
    assert ember.cuda.device_count() >= 0
    ember.cuda.empty_cache()  # a no-op without a GPU


# ---- transfers --------------------------------------------------------------------------------
@requires_cuda
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_round_trip_cpu_cuda_cpu_is_exact_for_every_dtype(dtype, rng):
    a = sample(rng, (3, 5, 7), dtype)
    g = ember.tensor(a).cuda()
    assert g.device == ember.device("cuda:0") and g.dtype is dtype
    np.testing.assert_array_equal(cpu_np(g), a)


@requires_cuda
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_round_trip_of_non_contiguous_views(dtype, rng):
    a = sample(rng, (6, 8), dtype)
    x = ember.tensor(a)
    for view, expect in [(x.t(), a.T), (x[:, ::3], a[:, ::3]), (x[1:5, 2:7].t(), a[1:5, 2:7].T),
                         (x[:1].expand(4, 8), np.broadcast_to(a[:1], (4, 8)))]:
        np.testing.assert_array_equal(cpu_np(view.cuda()), expect)
    g = ember.tensor(a).cuda()
    # Views of CUDA tensors download correctly too.
    np.testing.assert_array_equal(cpu_np(g.t()), a.T)
    np.testing.assert_array_equal(cpu_np(g[:, 1::2]), a[:, 1::2])
    np.testing.assert_array_equal(cpu_np(g.t().contiguous()), a.T)


@requires_cuda
def test_copy_into_strided_cuda_destination_converts_and_broadcasts(rng):
    a = rng.standard_normal((5,)).astype(np.float64)
    d = ember.zeros(4, 5, dtype=ember.float32, device="cuda")
    d.t().copy_(ember.tensor(rng.standard_normal((5, 4)).astype(np.float32)))
    d.copy_(ember.tensor(a))  # broadcast + float64 -> float32 from the CPU
    np.testing.assert_allclose(cpu_np(d), np.broadcast_to(a.astype(np.float32), (4, 5)))
    e = ember.zeros(5, 4, dtype=ember.int64, device="cuda")
    e.t().copy_(d.to(ember.float64))  # CUDA -> CUDA, strided destination, conversion
    np.testing.assert_array_equal(cpu_np(e).T, np.broadcast_to(a.astype(np.float32), (4, 5)).astype(np.int64))


@requires_cuda
def test_transfer_with_dtype_change_and_overlapping_same_device_copy(rng):
    a = rng.integers(-50, 50, (4, 6)).astype(np.int32)
    g = ember.tensor(a).to("cuda", ember.float64)
    assert g.dtype is ember.float64
    np.testing.assert_array_equal(cpu_np(g), a.astype(np.float64))
    np.testing.assert_array_equal(g.to(ember.int32).cpu().numpy(), a)
    h = ember.arange(10, device="cuda")
    h[1:].copy_(h[:-1])  # overlapping views behave as if the source were copied first
    np.testing.assert_array_equal(cpu_np(h), np.r_[0, np.arange(9)])


@requires_cuda
def test_device_mismatch_error_names_both_devices():
    with pytest.raises(ValueError) as info:
        ember.ones(3) + ember.ones(3, device="cuda")
    assert "cpu" in str(info.value) and "cuda:0" in str(info.value)


@requires_cuda
def test_zero_dim_cpu_tensor_mixes_with_cuda_tensor():
    x = ember.ones(3, device="cuda") * ember.tensor(2.5)
    assert x.device == ember.device("cuda")
    np.testing.assert_array_equal(cpu_np(x), np.full(3, 2.5, np.float32))


# ---- elementwise ----------------------------------------------------------------------------
UNARY = ["neg", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "abs", "sign", "sin", "cos", "tanh", "sigmoid",
         "relu", "floor", "ceil", "round", "reciprocal", "square", "erf", "log2", "exp2", "trunc", "frac",
         "isnan", "isinf", "isfinite", "logical_not"]


@requires_cuda
@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("dtype", [ember.float32, ember.float64], ids=str)
def test_unary_float_ops_match_cpu(name, dtype, rng):
    a = (rng.standard_normal((33, 65)) * 3).astype(np.float32 if dtype is ember.float32 else np.float64)
    if name in ("log", "log1p", "sqrt", "rsqrt", "log2"):
        a = np.abs(a) + 0.1
    a[0, :4] = [np.nan, np.inf, -np.inf, 0.0]
    x = ember.tensor(a)
    fn = getattr(ember, name) if hasattr(ember, name) else getattr(ember.nn.functional, name)
    for view in (lambda t: t, lambda t: t.t(), lambda t: t[:, 1::2]):
        want = cpu_np(fn(view(x)))
        got = cpu_np(fn(view(x.cuda())))
        np.testing.assert_allclose(got, want, rtol=1e-4 if dtype is ember.float32 else 1e-10, atol=1e-6,
                                   equal_nan=True)


@requires_cuda
@pytest.mark.parametrize("dtype", [ember.uint8, ember.int32, ember.int64, ember.bool], ids=str)
def test_unary_integer_ops_match_cpu(dtype, rng):
    x = ember.tensor(sample(rng, (40, 9), dtype))
    ops = ["abs", "sign", "relu", "square", "floor", "logical_not", "isnan", "isfinite", "bitwise_not"]
    if dtype is not ember.bool:
        ops.append("neg")
    for name in ops:
        fn = getattr(ember, name) if hasattr(ember, name) else getattr(ember.nn.functional, name)
        np.testing.assert_array_equal(cpu_np(fn(x.cuda())), cpu_np(fn(x)), err_msg=name)


BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge",
          "logical_and", "logical_or", "logical_xor", "floor_divide", "remainder", "atan2"]


@requires_cuda
@pytest.mark.parametrize("name", BINARY)
def test_binary_ops_with_broadcasting_match_cpu(name, rng):
    a = (rng.standard_normal((3, 1, 5)) * 4).astype(np.float32)
    b = (rng.standard_normal((4, 5)) * 4).astype(np.float32)
    if name == "pow":
        a = np.abs(a)
    a[0, 0, 0], b[1, 1] = np.nan, np.nan
    fn = getattr(ember, name)
    want = cpu_np(fn(ember.tensor(a), ember.tensor(b)))
    got = cpu_np(fn(ember.tensor(a).cuda(), ember.tensor(b).cuda()))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, equal_nan=True)
    # scalar operand and non-contiguous operand
    bt = ember.tensor(np.ascontiguousarray(b.T)).t()
    np.testing.assert_allclose(cpu_np(fn(ember.tensor(a).cuda(), bt.cuda())), want, rtol=1e-4, atol=1e-5,
                               equal_nan=True)
    np.testing.assert_allclose(cpu_np(fn(ember.tensor(b).cuda(), 1.5)), cpu_np(fn(ember.tensor(b), 1.5)),
                               rtol=1e-4, atol=1e-5, equal_nan=True)


@requires_cuda
@pytest.mark.parametrize("dtype", [ember.int32, ember.int64, ember.uint8], ids=str)
def test_integer_binary_ops_match_cpu_exactly(dtype, rng):
    a = sample(rng, (7, 11), dtype)
    b = sample(rng, (7, 11), dtype)
    b[b == 0] = 3
    x, y = ember.tensor(a), ember.tensor(b)
    for name in ["add", "sub", "mul", "floor_divide", "remainder", "maximum", "minimum", "bitwise_and",
                 "bitwise_or", "bitwise_xor", "eq", "lt"]:
        fn = getattr(ember, name)
        np.testing.assert_array_equal(cpu_np(fn(x.cuda(), y.cuda())), cpu_np(fn(x, y)), err_msg=name)
    np.testing.assert_array_equal(cpu_np(ember.add(x.cuda(), y.cuda(), alpha=3)), cpu_np(ember.add(x, y, alpha=3)))


@requires_cuda
def test_nan_propagation_in_maximum_minimum_and_clamp():
    a = ember.tensor([1.0, float("nan"), 3.0, -2.0])
    b = ember.tensor([float("nan"), 2.0, 1.0, -1.0])
    for fn in (ember.maximum, ember.minimum):
        np.testing.assert_array_equal(cpu_np(fn(a.cuda(), b.cuda())), cpu_np(fn(a, b)))
    np.testing.assert_array_equal(cpu_np(ember.clamp(a.cuda(), -1.0, 2.0)), cpu_np(ember.clamp(a, -1.0, 2.0)))
    np.testing.assert_array_equal(cpu_np(ember.clamp(a.cuda(), min=b.cuda())), cpu_np(ember.clamp(a, min=b)))


@requires_cuda
def test_where_lerp_and_in_place_ops_match_cpu(rng):
    a = rng.standard_normal((5, 6)).astype(np.float32)
    b = rng.standard_normal((6,)).astype(np.float32)
    x, y = ember.tensor(a), ember.tensor(b)
    np.testing.assert_array_equal(cpu_np(ember.where(x.cuda() > 0, x.cuda(), y.cuda())),
                                  cpu_np(ember.where(x > 0, x, y)))
    np.testing.assert_allclose(cpu_np(ember.lerp(x.cuda(), y.expand(5, 6).cuda(), 0.3)),
                               cpu_np(ember.lerp(x, y.expand(5, 6), 0.3)), rtol=1e-5, atol=1e-6)
    g = x.cuda()
    g.add_(y.cuda(), alpha=2)
    g.mul_(0.5)
    np.testing.assert_allclose(cpu_np(g), (a + 2 * b) * 0.5, rtol=1e-5, atol=1e-6)


@requires_cuda
def test_large_and_unaligned_tensors_use_every_path(rng):
    a = rng.standard_normal(1_000_003).astype(np.float32)
    x = ember.tensor(a).cuda()
    np.testing.assert_allclose(cpu_np(x * 2 + 1), a * 2 + 1, rtol=1e-6)
    np.testing.assert_allclose(cpu_np(x[1:] * 2), a[1:] * 2, rtol=1e-6)  # misaligned: strided path


# ---- reductions -----------------------------------------------------------------------------
@requires_cuda
@pytest.mark.parametrize("name", ["sum", "mean", "prod", "amax", "amin", "argmax", "argmin"])
@pytest.mark.parametrize("shape,dim", [((1000,), None), ((7, 300), 1), ((4096, 33), 0), ((5, 6, 7), (0, 2)),
                                       ((3, 200000), 1), ((200001,), 0), ((6, 5, 4), -2)])
def test_float_reductions_match_cpu(name, shape, dim, rng):
    a = rng.standard_normal(shape).astype(np.float32)
    if name == "prod":
        a = (1 + 0.01 * a).astype(np.float32)
    x = ember.tensor(a)
    if name in ("argmax", "argmin") and isinstance(dim, tuple):
        pytest.skip("argmax takes one dim")
    kwargs = {} if dim is None else {"dim": dim}
    fn = getattr(ember, name)
    want = cpu_np(fn(x, **kwargs))
    got = cpu_np(fn(x.cuda(), **kwargs))
    if name in ("argmax", "argmin"):
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)
    if len(shape) > 1:  # a transposed input reduces the same numbers
        xt = ember.tensor(np.ascontiguousarray(np.moveaxis(a, 0, -1))).movedim(-1, 0)
        got_t = cpu_np(fn(xt.cuda(), **kwargs))
        if name in ("argmax", "argmin"):
            np.testing.assert_array_equal(got_t, want)
        else:
            np.testing.assert_allclose(got_t, want, rtol=1e-3, atol=1e-5)


@requires_cuda
def test_max_argmax_propagate_nan_and_prefer_first_index():
    a = np.array([[1.0, 5.0, 5.0, 2.0], [3.0, np.nan, 7.0, np.nan], [0.0, 0.0, 0.0, 0.0]], np.float32)
    x = ember.tensor(a)
    for dim in (0, 1):
        for fn in (ember.argmax, ember.argmin, ember.amax, ember.amin):
            np.testing.assert_array_equal(cpu_np(fn(x.cuda(), dim=dim)), cpu_np(fn(x, dim=dim)))
        v, i = ember.max(x.cuda(), dim=dim)
        vc, ic = ember.max(x, dim=dim)
        np.testing.assert_array_equal(cpu_np(v), cpu_np(vc))
        np.testing.assert_array_equal(cpu_np(i), cpu_np(ic))


@requires_cuda
@pytest.mark.parametrize("dtype", [ember.int32, ember.int64, ember.uint8, ember.bool], ids=str)
def test_integer_and_bool_reductions_are_exact(dtype, rng):
    x = ember.tensor(sample(rng, (64, 37), dtype))
    for name, kw in [("sum", {}), ("sum", {"dim": 0}), ("sum", {"dim": 1}), ("all", {"dim": 1}),
                     ("any", {"dim": 0}), ("all", {}), ("any", {}), ("amax", {"dim": 1}), ("argmin", {"dim": 0})]:
        fn = getattr(ember, name)
        np.testing.assert_array_equal(cpu_np(fn(x.cuda(), **kw)), cpu_np(fn(x, **kw)), err_msg=f"{name} {kw}")


@requires_cuda
def test_empty_reductions_give_identities():
    x = ember.zeros(0, 4, device="cuda")
    np.testing.assert_array_equal(cpu_np(x.sum(0)), np.zeros(4, np.float32))
    np.testing.assert_array_equal(cpu_np(x.prod(0)), np.ones(4, np.float32))
    assert np.isnan(cpu_np(x.mean(0))).all()


# ---- random ---------------------------------------------------------------------------------
def strided_fill(t, kind, a, b):
    """Fills a (possibly strided) tensor in place: kind 0 = uniform [a, b), 1 = normal(a, b)."""
    ember._C.random_fill_(t._c, kind, a, b)
    return t


@requires_cuda
@pytest.mark.parametrize("draw", [
    lambda dev: ember.rand(1001, device=dev),
    lambda dev: ember.rand(3, 333, dtype=ember.float64, device=dev),
    lambda dev: ember.randint(-7, 100, (999,), device=dev),
    lambda dev: ember.randint(0, 2 ** 40, (77,), device=dev),
    lambda dev: ember.randint(0, 5, (50,), dtype=ember.float32, device=dev),
    lambda dev: ember.bernoulli(ember.full((513,), 0.3, device=dev)),
    lambda dev: strided_fill(ember.empty(64, 3, device=dev)[:, 1], kind=0, a=-2.0, b=3.0),
], ids=["rand32", "rand64", "randint", "randint_wide", "randint_float", "bernoulli", "strided_uniform"])
def test_same_seed_gives_bitwise_identical_draws_on_cpu_and_cuda(draw):
    ember.manual_seed(2024)
    cpu = cpu_np(draw("cpu"))
    ember.manual_seed(2024)
    gpu = cpu_np(draw("cuda"))
    np.testing.assert_array_equal(gpu, cpu)


@requires_cuda
@pytest.mark.parametrize("dtype", [ember.float32, ember.float64], ids=str)
def test_same_seed_gives_matching_normals_on_cpu_and_cuda(dtype):
    ember.manual_seed(99)
    cpu = cpu_np(ember.randn(4097, dtype=dtype))
    ember.manual_seed(99)
    gpu = cpu_np(ember.randn(4097, dtype=dtype, device="cuda"))
    np.testing.assert_allclose(gpu, cpu, rtol=1e-6, atol=1e-6)  # libm vs CUDA rounding of log/cos/sin only
    ember.manual_seed(99)
    strided = strided_fill(ember.empty(4097, 2, dtype=dtype, device="cuda")[:, 0], kind=1, a=0.0, b=1.0)
    np.testing.assert_allclose(cpu_np(strided), cpu, rtol=1e-6, atol=1e-6)


# ---- memory ---------------------------------------------------------------------------------
@requires_cuda
def test_memory_stats_follow_allocations_and_the_cache():
    ember.cuda.synchronize()
    base = ember.cuda.memory_allocated()
    x = ember.empty(1 << 20, device="cuda")  # 4 MiB
    assert ember.cuda.memory_allocated() - base >= 4 << 20
    ember.cuda.reset_peak_memory_stats()
    assert ember.cuda.max_memory_allocated() == ember.cuda.memory_allocated()
    y = ember.empty(1 << 21, device="cuda")
    peak = ember.cuda.max_memory_allocated()
    assert peak >= base + (12 << 20)
    del x, y
    assert ember.cuda.memory_allocated() == base
    assert ember.cuda.max_memory_allocated() == peak
    if not ember._C.cuda_caching_disabled():
        assert ember.cuda.memory_reserved() >= base + (12 << 20)  # the blocks are cached
        z = ember.empty(1 << 20, device="cuda")  # served from the cache
        del z
        ember.cuda.empty_cache()
        assert ember.cuda.memory_stats()["cached_bytes"] == 0
        assert ember.cuda.memory_reserved() == ember.cuda.memory_allocated()


@requires_cuda
def test_no_cache_env_makes_every_free_return_memory_to_the_driver():
    code = textwrap.dedent("""
        import ember
        assert ember._C.cuda_caching_disabled()
        x = ember.ones(1 << 20, device="cuda")
        assert ember.cuda.memory_allocated() >= 4 << 20
        assert float(x.sum()) == float(1 << 20)
        del x
        s = ember.cuda.memory_stats()
        assert s["cached_bytes"] == 0 and s["allocated_bytes"] == 0, s
        print("ok")
    """)
    env = dict(os.environ, EMBER_CUDA_NO_CACHE="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
