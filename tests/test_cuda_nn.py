"""The CUDA nn kernels agree with the CPU: pooling, activations, softmax and the fused
cross-entropy, batch/layer/group norm, the fused optimizer steps, interpolation, the indexing
primitives, cumsum and dropout. Each family runs over odd shapes (1, 3, 7, 13, 33, 97),
non-contiguous inputs, its hyperparameter grid and inputs large enough for the multi-block paths,
against the CPU in float64 (forward and gradients); then the numerical stability cases, same-seed
dropout masks, bad inputs, and every fast kernel against the reference kernel kept beside it.
Skipped without a GPU.

EMBER_TEST_GPU_AS_CPU=1 (no GPU needed) runs every comparison with the CPU standing in for the
GPU: a check of the tests themselves, not of the CUDA kernels.
"""
import contextlib
import math

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from helpers import GPU, make_tensor, weighted_gradients

pytestmark = pytest.mark.skipif(GPU is None, reason="CUDA is not available")

F32, F64 = ember.float32, ember.float64
ODD = (1, 3, 7, 13, 33, 97)
# (rtol, atol) against the CPU's float64: elementwise ops, and reductions (softmax, norms, losses).
ELEMENTWISE = {F32: (1e-4, 1e-5), F64: (1e-10, 1e-12)}
REDUCTION = {F32: (1e-3, 1e-4), F64: (1e-9, 1e-11)}


def host(t):
    return t.detach().cpu().numpy()


def flat(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def assert_close(got, want, tol, what=""):
    w = host(want) if isinstance(want, ember.Tensor) else np.asarray(want)
    np.testing.assert_allclose(host(got).astype(np.float64), w.astype(np.float64), rtol=tol[0], atol=tol[1],
                               err_msg=what)


def check_gpu(fn, *arrays, tol=ELEMENTWISE, dtypes=(F32, F64), layouts=("contiguous",), grad=True,
              grad_inputs=None):
    """fn on the GPU (each dtype and layout) matches fn on the CPU in float64: every output (integer
    outputs such as indices exactly, in float64), then the gradients of a fixed random weighting of
    the outputs."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    diff = range(len(arrays)) if grad_inputs is None else grad_inputs
    for layout in layouts:
        want = flat(fn(*[make_tensor(a, layout, F64) for a in arrays]))
        ref = weighted_gradients(fn, arrays, layout, F64, "cpu", diff) if grad else None
        for dtype in dtypes:
            got = flat(fn(*[make_tensor(a, layout, dtype, device=GPU) for a in arrays]))
            assert len(got) == len(want)
            for k, (g, w) in enumerate(zip(got, want)):
                what = f"output {k}, {dtype} {layout}"
                assert g.device.type == GPU, f"{what} is on {g.device}"
                if g.dtype.is_floating_point:
                    assert_close(g, w, tol[dtype], what)
                elif dtype is F64:
                    np.testing.assert_array_equal(host(g), host(w), err_msg=what)
            if grad:
                for i, (g, r) in enumerate(zip(weighted_gradients(fn, arrays, layout, dtype, GPU, diff), ref)):
                    assert (g is None) == (r is None), f"grad {i}: {g} vs the CPU's {r}"
                    if g is not None:
                        assert g.device.type == GPU
                        assert_close(g, r, tol[dtype], f"grad {i}, {dtype} {layout}")


@contextlib.contextmanager
def reference_kernels():
    ember._C.cuda_set_reference_kernels(True)
    try:
        yield
    finally:
        ember._C.cuda_set_reference_kernels(False)


def check_fast_matches_reference(fn, *arrays, dtype=F64, tol=(1e-10, 1e-10), grad=True, grad_inputs=None, exact=False):
    """The fast kernels and the plain reference kernels give the same outputs and gradients."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    diff = range(len(arrays)) if grad_inputs is None else grad_inputs

    def run():
        out = flat(fn(*[make_tensor(a, "contiguous", dtype, device=GPU) for a in arrays]))
        grads = weighted_gradients(fn, arrays, "contiguous", dtype, GPU, diff) if grad else []
        return [host(o) for o in out] + [host(g) for g in grads if g is not None]

    fast = run()
    with reference_kernels():
        assert ember._C.cuda_reference_kernels() or GPU == "cpu"
        slow = run()
    assert len(fast) == len(slow)
    for k, (a, b) in enumerate(zip(fast, slow)):
        if exact or not np.issubdtype(a.dtype, np.floating):
            np.testing.assert_array_equal(a, b, err_msg=f"result {k}")
        else:
            np.testing.assert_allclose(a, b, rtol=tol[0], atol=tol[1], err_msg=f"result {k}")


def rand(shape, seed=0, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, shape)


def distinct(shape, seed=0):
    """Distinct values exact in float32 and float64 (k / 2^m - 0.5): no ties for max to break."""
    n = int(np.prod(shape))
    scale = 2.0 ** max(1, math.ceil(math.log2(max(n, 2))))
    return np.random.default_rng(seed).permutation(n).reshape(shape) / scale - 0.5


def on(x, a, dtype=None):
    """`a` as a tensor on x's device (with x's dtype unless given): targets, weights, indices."""
    a = np.asarray(a)
    if dtype is None:
        dtype = x.dtype if a.dtype.kind == "f" else None
    return ember.tensor(a, dtype=dtype, device=x.device)


# ---- pooling ------------------------------------------------------------------------------------
POOL_SHAPES = [(2, 3, 7, 13), (1, 2, 13, 33), (3, 1, 33, 7)]


@pytest.mark.parametrize("k, s, p, d", [(1, 1, 0, 1), (2, 2, 0, 1), (3, 1, 1, 1), (3, 2, 1, 2), (2, 3, 1, 2),
                                        ((3, 2), (2, 1), (1, 0), (1, 2))])
@pytest.mark.parametrize("ceil", [False, True])
@pytest.mark.parametrize("shape", POOL_SHAPES[:2])
def test_max_pool2d_values_indices_and_gradients(k, s, p, d, ceil, shape):
    check_gpu(lambda x: F.max_pool2d(x, k, s, p, d, ceil, return_indices=True), distinct(shape),
              tol=REDUCTION, layouts=("contiguous", "transposed"))


def test_max_pool2d_nan_and_ties_pick_the_cpus_index():
    a = np.random.default_rng(1).integers(0, 3, (2, 3, 9, 11)).astype(np.float64)  # many ties
    a[0, 0, 2, 3] = a[1, 2, 5, 5] = a[1, 2, 5, 7] = np.nan
    for fn in (lambda x: F.max_pool2d(x, 3, 1, 1, return_indices=True),
               lambda x: F.max_pool2d(x, 2, 2, 0, 2, True, return_indices=True),
               lambda x: F.adaptive_max_pool2d(x, (4, 5), return_indices=True)):
        check_gpu(fn, a, tol=REDUCTION, grad=False, dtypes=(F64,))


def test_max_pool2d_windows_outside_a_narrow_input_send_gradients_where_the_cpu_does():
    # W = 1 with dilation 3: every column window misses the input, the outputs are -inf and the
    # indices point at elements outside their windows (the scatter fallback of the CUDA backward).
    fn = lambda x: F.max_pool2d(x, (3, 2), (2, 1), (1, 2), (1, 3), return_indices=True)  # noqa: E731
    y, idx = fn(ember.tensor(rand((2, 3, 8, 1))))
    assert np.all(np.isneginf(y.numpy())) and int(idx.numpy().max()) < 8
    check_gpu(fn, distinct((2, 3, 8, 1)), tol=REDUCTION)


@pytest.mark.parametrize("k, s, p", [(3, 2, 1), (2, 1, 0), (3, 3, 1), ((3, 1), (1, 2), (1, 0))])
@pytest.mark.parametrize("ceil", [False, True])
@pytest.mark.parametrize("cip", [True, False])
@pytest.mark.parametrize("divisor", [None, 5])
def test_avg_pool2d_grid(k, s, p, ceil, cip, divisor):
    check_gpu(lambda x: F.avg_pool2d(x, k, s, p, ceil, cip, divisor), rand(POOL_SHAPES[0]), tol=REDUCTION,
              layouts=("contiguous", "sliced"))


@pytest.mark.parametrize("insize, outsize", [((7, 13), (1, 1)), ((7, 13), (3, 5)), ((13, 33), (7, 13)),
                                             ((5, 7), (7, 13)), ((33, 1), (13, 1)), ((97, 3), (33, 3))])
def test_adaptive_pools(insize, outsize):
    a = distinct((2, 3) + insize, seed=2)
    check_gpu(lambda x: F.adaptive_avg_pool2d(x, outsize), a, tol=REDUCTION, layouts=("contiguous", "transposed"))
    check_gpu(lambda x: F.adaptive_max_pool2d(x, outsize, return_indices=True), a, tol=REDUCTION)


def test_pool_1d_composites_run_on_the_gpu():
    a = distinct((2, 3, 33))
    check_gpu(lambda x: F.max_pool1d(x, 3, 2, 1), a, tol=REDUCTION)
    check_gpu(lambda x: F.avg_pool1d(x, 4, 3), a, tol=REDUCTION)
    check_gpu(lambda x: F.adaptive_avg_pool1d(x, 7), a, tol=REDUCTION)


@pytest.mark.parametrize("fn", [lambda x: F.max_pool2d(x, 3, 1, 1), lambda x: F.avg_pool2d(x, 3, 1, 1, False, False),
                                lambda x: F.adaptive_avg_pool2d(x, (10, 7)), lambda x: F.adaptive_max_pool2d(x, (10, 7))],
                         ids=["max", "avg", "adaptive_avg", "adaptive_max"])
def test_pool_gather_backward_matches_the_atomic_reference_and_is_deterministic(fn):
    a = distinct((8, 16, 64, 63), seed=3)
    check_fast_matches_reference(fn, a)
    x = make_tensor(a, dtype=F32, device=GPU, requires_grad=True)
    g = [None, None]
    for i in range(2):
        x.grad = None
        fn(x).sum().backward()
        g[i] = host(x.grad)
    np.testing.assert_array_equal(g[0], g[1])  # the gather has no atomics: bit-identical reruns


# ---- activations --------------------------------------------------------------------------------
ACTIVATIONS = {
    "relu": F.relu, "relu6": F.relu6, "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
    "leaky_relu_negative_slope": lambda x: F.leaky_relu(x, -0.3), "elu": F.elu, "elu_alpha": lambda x: F.elu(x, 0.3),
    "selu": F.selu, "celu": lambda x: F.celu(x, 0.7), "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"), "silu": F.silu, "mish": F.mish, "softplus": F.softplus,
    "softplus_beta_threshold": lambda x: F.softplus(x, beta=2.0, threshold=3.0), "hardtanh": F.hardtanh,
    "hardtanh_range": lambda x: F.hardtanh(x, -0.5, 2.0), "hardswish": F.hardswish, "hardsigmoid": F.hardsigmoid,
    "sigmoid": F.sigmoid, "tanh": F.tanh, "logsigmoid": F.logsigmoid,
}


def _activation_input(shape, seed=0):
    a = rand(shape, seed, -5.0, 5.0)
    special = [-3.0, 3.0, 0.0, -0.5, 2.0, 1.5, 10.0, -25.0]  # the formulas' branch points and saturation
    a.reshape(-1)[:len(special)] = special[:a.size]
    return a


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("shape", [(1,), (3, 7), (13, 33), (2, 3, 97)])
def test_activation_forward_and_backward(name, shape):
    layouts = ("contiguous", "transposed", "sliced") if len(shape) > 1 else ("contiguous", "sliced")
    check_gpu(ACTIVATIONS[name], _activation_input(shape), layouts=layouts)


@pytest.mark.parametrize("name", ["gelu", "silu", "hardswish", "softplus_beta_threshold", "elu_alpha"])
def test_activation_vectorised_and_misaligned_paths(name):
    a = _activation_input((301, 1001), seed=4)
    check_gpu(ACTIVATIONS[name], a)  # dense: the vectorised kernel
    check_gpu(lambda x: ACTIVATIONS[name](x[1:, 3:]), a)  # offset views: the strided kernel


def test_activation_passes_nan_through():
    a = np.array([np.nan, -1.0, 0.5, np.nan, 4.0])
    for name in ("hardtanh", "leaky_relu", "gelu", "softplus"):
        check_gpu(ACTIVATIONS[name], a, grad=False)


@pytest.mark.parametrize("fn", [F.relu_, F.leaky_relu_, F.elu_, F.hardtanh_, lambda x: F.silu(x, inplace=True),
                                lambda x: F.hardswish(x, inplace=True)])
def test_inplace_activations_on_contiguous_and_transposed_views(fn):
    a = _activation_input((7, 13))
    for dtype in (F32, F64):
        want = ember.tensor(a)
        fn(want)
        for layout in ("contiguous", "transposed"):
            got = make_tensor(a, layout, dtype, device=GPU)
            assert fn(got) is got
            assert_close(got, want, ELEMENTWISE[dtype], f"{dtype} {layout}")


def test_prelu_per_channel_and_shared_weight():
    a = _activation_input((2, 3, 7, 5))
    check_gpu(lambda x, w: F.prelu(x, w), a, rand((3,), 1))
    check_gpu(lambda x, w: F.prelu(x, w), a, rand((1,), 2))


# ---- softmax ------------------------------------------------------------------------------------
SOFTMAX_CASES = [((1,), 0), ((3, 7), 1), ((7, 3), 0), ((13, 33), -1), ((2, 97, 5), 1), ((4, 1025), 1),
                 ((2, 5000), 1), ((3000, 3), 0), ((3, 1, 7), 1), ((2, 3, 4, 5), 2)]


@pytest.mark.parametrize("shape, dim", SOFTMAX_CASES)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_over_any_dim(shape, dim, log):
    fn = (lambda x: F.log_softmax(x, dim)) if log else (lambda x: F.softmax(x, dim))
    check_gpu(fn, rand(shape, 5, -6, 6), tol=REDUCTION, layouts=("contiguous", "transposed"))


@pytest.mark.parametrize("shape, dim", [((64, 1000), 1), ((8, 5000), 1), ((5, 7, 300), 1), ((3, 200000), 1)])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_warp_block_and_column_paths_match_the_reference(shape, dim, log):
    fn = (lambda x: F.log_softmax(x, dim)) if log else (lambda x: F.softmax(x, dim))
    check_fast_matches_reference(fn, rand(shape, 6, -6, 6))


def test_log_softmax_of_a_huge_logit_is_exact():
    for dtype in (F32, F64):
        x = ember.tensor([1.0, 2.0, 3000.0], dtype=dtype, device=GPU)
        assert F.log_softmax(x, 0).tolist() == [-2999.0, -2998.0, 0.0]


def test_softmax_rows_with_infinities_and_nan_match_the_cpu():
    inf, nan = math.inf, math.nan
    a = np.array([[-inf, -inf, -inf], [1.0, nan, 2.0], [inf, 1.0, 2.0], [-inf, 0.0, 1.0], [-1e30, 1e30, 0.0]])
    for fn in (lambda x: F.softmax(x, 1), lambda x: F.log_softmax(x, 1)):
        check_gpu(fn, a, tol=REDUCTION, grad=False)


# ---- cross-entropy ------------------------------------------------------------------------------
def _targets(shape, seed=0, ignore=-100):
    C = shape[1]
    t = np.random.default_rng(seed).integers(0, C, (shape[0],) + tuple(shape[2:]))
    if t.size > 1:
        t.reshape(-1)[1] = ignore
    return t


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (13, 33), (5, 97), (4, 1025), (2, 5000), (3, 4, 5), (2, 7, 3, 4)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted, ls", [(False, 0.0), (True, 0.0), (False, 0.2), (True, 0.1)])
def test_cross_entropy_class_targets(shape, reduction, weighted, ls):
    t, w = _targets(shape), rand((shape[1],), 1, 0.5, 2.0)
    check_gpu(lambda x: F.cross_entropy(x, on(x, t), weight=on(x, w) if weighted else None, reduction=reduction,
                                        label_smoothing=ls), rand(shape, 2, -4, 4), tol=REDUCTION)


def test_cross_entropy_ignore_index_that_is_a_class():
    t = _targets((6, 5), ignore=2)
    check_gpu(lambda x: F.cross_entropy(x, on(x, t), ignore_index=2), rand((6, 5)), tol=REDUCTION)
    check_gpu(lambda x: F.nll_loss(x, on(x, t), ignore_index=2, reduction="sum"), rand((6, 5)), tol=REDUCTION)


@pytest.mark.parametrize("shape", [(3, 7), (2, 5000), (4, 5, 3)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted, ls", [(False, 0.0), (True, 0.15)])
def test_cross_entropy_probability_targets(shape, reduction, weighted, ls):
    y = rand(shape, 3, 0.0, 1.0)
    y /= y.sum(1, keepdims=True)
    w = rand((shape[1],), 4, 0.5, 2.0)
    check_gpu(lambda x: F.cross_entropy(x, on(x, y), weight=on(x, w) if weighted else None, reduction=reduction,
                                        label_smoothing=ls), rand(shape, 5, -4, 4), tol=REDUCTION)


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss(reduction, weighted):
    shape = (7, 13, 3)
    t, w = _targets(shape), rand((13,), 6, 0.5, 2.0)
    check_gpu(lambda x: F.nll_loss(F.log_softmax(x, 1), on(x, t), weight=on(x, w) if weighted else None,
                                   reduction=reduction), rand(shape, 7), tol=REDUCTION)


@pytest.mark.parametrize("shape", [(64, 1000), (8, 50257), (4, 33, 5)])
def test_cross_entropy_paths_match_the_reference(shape):
    t = _targets(shape)
    check_fast_matches_reference(lambda x: F.cross_entropy(x, on(x, t), label_smoothing=0.1), rand(shape, 8, -5, 5))


def test_cross_entropy_with_logits_shifted_by_1e4_keeps_float32_accuracy():
    # In float32 the shifted logits are exact at their own precision; the loss must be that of
    # the same values in float64 (log p = (x - m) - log(sum) never rounds log(sum) to 1e-3).
    x = (np.random.default_rng(9).standard_normal((16, 10)) + 1e4).astype(np.float32)
    t = np.random.default_rng(10).integers(0, 10, 16)
    for reduction in ("mean", "none"):
        fn = lambda v: F.cross_entropy(v, on(v, t), reduction=reduction)  # noqa: E731
        check_gpu(fn, x.astype(np.float64), dtypes=(F32,), tol={F32: (2e-5, 2e-6)})


def test_binary_cross_entropy_with_logits_is_stable_at_plus_minus_120():
    x = np.array([120.0, -120.0, 120.0, -120.0, 0.5, -30.0])
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.3, 1.0])
    want = np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))
    for dtype in (F32, F64):
        loss = F.binary_cross_entropy_with_logits(ember.tensor(x, dtype=dtype, device=GPU),
                                                  ember.tensor(y, dtype=dtype, device=GPU), reduction="none")
        assert_close(loss, want, ELEMENTWISE[dtype])
    check_gpu(lambda v: F.binary_cross_entropy_with_logits(v, on(v, y)), x)


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("bad", [5, -1, 1 << 40])
def test_out_of_range_targets_raise_the_cpus_index_error(name, bad):
    fn = getattr(F, name)
    for t in ([0, 1, bad, 2], [[0, bad], [7, 1]]):  # the first bad position is reported
        shape = (4, 5) if len(t) == 4 else (2, 5, 2)
        a = rand(shape)
        errors = []
        for device in ("cpu", GPU):
            with pytest.raises(IndexError) as e:
                fn(ember.tensor(a, device=device), ember.tensor(t, device=device))
            errors.append(str(e.value))
        assert errors[0] == errors[1] and "out of bounds" in errors[0]
    # Nothing is left broken: the same device runs a valid loss next.
    x = ember.tensor(rand((4, 5)), device=GPU)
    assert math.isfinite(fn(x, ember.tensor([0, 1, 2, 3], device=GPU)).item())


def test_cross_entropy_with_zero_classes():
    for t, raises in (([-100, -100, -100], False), ([-100, 0, -100], True)):
        for device in ("cpu", GPU):
            x = ember.zeros(3, 0, dtype=F64, device=device)
            if raises:
                with pytest.raises(IndexError, match="Target 0 is out of bounds"):
                    F.cross_entropy(x, ember.tensor(t, device=device), reduction="none")
            else:
                assert F.cross_entropy(x, ember.tensor(t, device=device), reduction="none").tolist() == [0, 0, 0]


# ---- normalisation ------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(2, 1), (7, 3), (33, 13), (5, 97), (4, 3, 7), (2, 13, 33), (3, 7, 5, 9),
                                   (16, 3, 64, 64)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_outputs_running_stats_and_gradients(shape, training, affine):
    C = shape[1]
    rm0, rv0 = rand((C,), 1), rand((C,), 2, 0.5, 2.0)

    def fn(x, w, b):
        rm, rv = on(x, rm0), on(x, rv0)
        y = F.batch_norm(x, rm, rv, w if affine else None, b if affine else None, training, 0.3, 1e-5)
        return y, rm, rv

    check_gpu(fn, rand(shape, 3) * 2 + 3, rand((C,), 4), rand((C,), 5), tol=REDUCTION,
              grad_inputs=(0, 1, 2) if affine else (0,))


def test_batch_norm_statistics_are_exact_for_data_with_a_large_mean():
    a = 1e6 + np.random.default_rng(11).standard_normal((256, 4, 33))
    rm, rv = ember.zeros(4, dtype=F64, device=GPU), ember.ones(4, dtype=F64, device=GPU)
    y = F.batch_norm(ember.tensor(a, device=GPU), rm, rv, training=True, momentum=1.0, eps=0.0)
    np.testing.assert_allclose(host(rm), a.mean((0, 2)), rtol=1e-13)
    np.testing.assert_allclose(host(rv), a.var((0, 2), ddof=1), rtol=1e-9)  # a sum of squares would lose ~1e-4
    m, s = a.mean((0, 2), keepdims=True), a.std((0, 2), keepdims=True)
    np.testing.assert_allclose(host(y), (a - m) / s, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("shape", [(16, 3, 64, 64), (4096, 7), (300, 5, 3)])
def test_batch_norm_tiled_welford_matches_the_per_channel_reference(shape):
    C = shape[1]

    def fn(x, w, b):
        rm, rv = on(x, np.zeros(C)), on(x, np.ones(C))
        return F.batch_norm(x, rm, rv, w, b, True, 0.1, 1e-5), rm, rv

    check_fast_matches_reference(fn, rand(shape, 12) + 5, rand((C,), 13), rand((C,), 14))


LAYER_NORM_CASES = [((1, 1), (1,)), ((3, 7), (7,)), ((13, 33), (33,)), ((2, 5, 97), (97,)), ((2, 3, 4, 5), (4, 5)),
                    ((4, 1025), (1025,)), ((3, 5000), (5000,)), ((7, 13, 33), (13, 33))]


@pytest.mark.parametrize("shape, ns", LAYER_NORM_CASES)
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm(shape, ns, affine):
    check_gpu(lambda x, w, b: F.layer_norm(x, ns, w if affine else None, b if affine else None),
              rand(shape, 15) + 2, rand(ns, 16), rand(ns, 17), tol=REDUCTION, layouts=("contiguous", "transposed"),
              grad_inputs=(0, 1, 2) if affine else (0,))


@pytest.mark.parametrize("shape", [(64, 1000), (8, 5000), (2048, 97)])
def test_layer_norm_paths_match_the_reference(shape):
    D = shape[1]
    check_fast_matches_reference(lambda x, w, b: F.layer_norm(x, (D,), w, b), rand(shape, 18) + 100,
                                 rand((D,), 19), rand((D,), 20))


def test_layer_norm_statistics_are_exact_for_data_with_a_large_mean():
    a = 1e6 + np.random.default_rng(21).standard_normal((5, 4097))
    y = F.layer_norm(ember.tensor(a, device=GPU), (4097,), eps=0.0)
    m, s = a.mean(1, keepdims=True), a.std(1, keepdims=True)
    np.testing.assert_allclose(host(y), (a - m) / s, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("groups", [1, 3, 6])
def test_group_norm(groups):
    check_gpu(lambda x, w, b: F.group_norm(x, groups, w, b), rand((4, 6, 5, 7), 22), rand((6,), 23),
              rand((6,), 24), tol=REDUCTION)


# ---- optimizers ---------------------------------------------------------------------------------
PARAM_SHAPES = [(1,), (3,), (7, 13), (33,), (0,), (97, 5), (5000,), (100003,)]
O = ember.optim
OPTIMIZERS = {
    "sgd": lambda ps: O.SGD(ps, lr=0.1),
    "sgd_momentum_dampening_wd": lambda ps: O.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01),
    "sgd_nesterov_maximize": lambda ps: O.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, maximize=True),
    "adam": lambda ps: O.Adam(ps, lr=1e-2),
    "adam_amsgrad_wd": lambda ps: O.Adam(ps, lr=1e-2, weight_decay=0.1, amsgrad=True),
    "adam_low_beta1_maximize": lambda ps: O.Adam(ps, lr=1e-2, betas=(0.3, 0.9), maximize=True),
    "adamw": lambda ps: O.AdamW(ps, lr=1e-2, weight_decay=0.1),
    "adamw_amsgrad": lambda ps: O.AdamW(ps, lr=1e-2, amsgrad=True),
    "rmsprop": lambda ps: O.RMSprop(ps, lr=1e-2),
    "rmsprop_centered_momentum_wd": lambda ps: O.RMSprop(ps, lr=1e-2, alpha=0.3, momentum=0.9, centered=True,
                                                         weight_decay=0.1),
    "rmsprop_momentum_maximize": lambda ps: O.RMSprop(ps, lr=1e-2, momentum=0.5, maximize=True),
    "adagrad": lambda ps: O.Adagrad(ps, lr=0.1),
    "adagrad_decay_wd_initial": lambda ps: O.Adagrad(ps, lr=0.1, lr_decay=0.01, weight_decay=0.1,
                                                     initial_accumulator_value=0.1),
    "adadelta": lambda ps: O.Adadelta(ps),
    "adadelta_wd_maximize": lambda ps: O.Adadelta(ps, lr=0.5, rho=0.5, weight_decay=0.1, maximize=True),
    "rprop": lambda ps: O.Rprop(ps, lr=0.01),
    "rprop_etas_steps_maximize": lambda ps: O.Rprop(ps, lr=0.01, etas=(0.3, 1.5), step_sizes=(1e-3, 0.05),
                                                    maximize=True),
    "nadam": lambda ps: O.NAdam(ps, lr=1e-2),
    "nadam_wd": lambda ps: O.NAdam(ps, lr=1e-2, weight_decay=0.1),
    "nadam_decoupled": lambda ps: O.NAdam(ps, lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True),
}


def _optimize(make, dtype, device, steps=4, seed=0):
    rng = np.random.default_rng(seed)
    ps = [ember.tensor(rng.standard_normal(s), dtype=dtype, device=device, requires_grad=True) for s in PARAM_SHAPES]
    opt = make(ps)
    for _ in range(steps):
        for p, s in zip(ps, PARAM_SHAPES):
            g = rng.standard_normal(s)
            g.reshape(-1)[::7] = 0.0  # exact zeros: Rprop's sign rules, SGD/Adam on flat spots
            p.grad = ember.tensor(g, dtype=dtype, device=device)
        opt.step()
    state = [[v for _, v in sorted(opt.state[p].items()) if isinstance(v, ember.Tensor)] for p in ps]
    return [p.detach() for p in ps], state


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("dtype", [F32, F64])
def test_fused_optimizer_step_matches_the_cpu_fused_step(name, dtype):
    # Same dtype on both sides: the maths order is the CPU's, so only FMA contraction may differ.
    tol = (2e-5, 2e-6) if dtype is F32 else (1e-12, 1e-13)
    cpu_p, cpu_s = _optimize(OPTIMIZERS[name], dtype, "cpu")
    gpu_p, gpu_s = _optimize(OPTIMIZERS[name], dtype, GPU)
    for i, (a, b) in enumerate(zip(gpu_p, cpu_p)):
        assert a.device.type == GPU
        assert_close(a, b, tol, f"param {i}")
    for i, (sa, sb) in enumerate(zip(gpu_s, cpu_s)):
        assert len(sa) == len(sb)
        for a, b in zip(sa, sb):
            assert_close(a, b, tol, f"state of param {i}")


@pytest.mark.parametrize("name", ["sgd_momentum_dampening_wd", "adam_amsgrad_wd", "rmsprop_centered_momentum_wd",
                                  "adagrad", "adadelta", "rprop", "nadam_decoupled"])
def test_multi_tensor_launch_matches_one_launch_per_tensor_bit_for_bit(name):
    fast_p, fast_s = _optimize(OPTIMIZERS[name], F32, GPU, seed=1)
    with reference_kernels():
        slow_p, slow_s = _optimize(OPTIMIZERS[name], F32, GPU, seed=1)
    for a, b in zip(fast_p + sum(fast_s, []), slow_p + sum(slow_s, [])):
        np.testing.assert_array_equal(host(a), host(b))


def test_optimizer_rejects_a_gradient_on_another_device():
    if GPU == "cpu":
        pytest.skip("needs two devices")
    p = ember.tensor(rand((5,)), device=GPU, requires_grad=True)
    opt = O.SGD([p], lr=0.1)
    with pytest.raises((ValueError, RuntimeError)) as e:
        p.grad = ember.tensor(rand((5,)))
        opt.step()
    assert "cpu" in str(e.value) and "cuda:0" in str(e.value)


# ---- interpolate --------------------------------------------------------------------------------
@pytest.mark.parametrize("mode, align", [("nearest", None), ("nearest-exact", None), ("bilinear", False),
                                         ("bilinear", True)])
@pytest.mark.parametrize("insize, outsize", [((7, 13), (13, 33)), ((13, 33), (7, 13)), ((1, 97), (3, 33)),
                                             ((33, 7), (33, 7)), ((5, 7), (10, 14)), ((3, 3), (97, 1))])
def test_interpolate_sizes(mode, align, insize, outsize):
    check_gpu(lambda x: F.interpolate(x, size=outsize, mode=mode, align_corners=align), rand((2, 3) + insize, 25),
              tol=REDUCTION, layouts=("contiguous", "transposed"))


@pytest.mark.parametrize("mode, align", [("nearest", None), ("bilinear", False), ("bilinear", True)])
@pytest.mark.parametrize("scale", [2.0, 0.5, 1.7, (3.0, 0.3)])
def test_interpolate_scale_factors(mode, align, scale):
    check_gpu(lambda x: F.interpolate(x, scale_factor=scale, mode=mode, align_corners=align), rand((2, 3, 13, 7), 26),
              tol=REDUCTION)


@pytest.mark.parametrize("mode, align", [("nearest", None), ("linear", False), ("linear", True)])
def test_interpolate_1d(mode, align):
    check_gpu(lambda x: F.interpolate(x, size=33, mode=mode, align_corners=align), rand((2, 3, 13), 27), tol=REDUCTION)


@pytest.mark.parametrize("mode, align, outsize", [("nearest", None, (90, 130)), ("bilinear", False, (90, 130)),
                                                  ("bilinear", True, (17, 200)), ("nearest-exact", None, (20, 21))])
def test_interpolate_gather_backward_matches_the_atomic_reference(mode, align, outsize):
    check_fast_matches_reference(lambda x: F.interpolate(x, size=outsize, mode=mode, align_corners=align),
                                 rand((4, 8, 45, 65), 28))


# ---- indexing -----------------------------------------------------------------------------------
def test_gather_scatter_select_take_and_advanced_indexing():
    a = rand((13, 33), 29)
    rng = np.random.default_rng(30)
    i0, i1 = rng.integers(0, 13, (7, 33)), rng.integers(0, 33, (13, 5))
    rows, flat = rng.integers(-13, 13, 9), rng.integers(0, 13 * 33, (3, 4))
    check_gpu(lambda x: ember.gather(x, 0, on(x, i0)), a)
    check_gpu(lambda x: ember.gather(x, 1, on(x, i1)), a, layouts=("contiguous", "transposed"))
    check_gpu(lambda x: x.index_select(0, on(x, rows % 13)), a)
    check_gpu(lambda x: ember.take(x, on(x, flat)), a)
    check_gpu(lambda x: x[on(x, rows)], a)  # negative indices count from the end
    check_gpu(lambda x: x[on(x, rows), 3:30:2], a, layouts=("contiguous", "sliced"))
    check_gpu(lambda x: x[on(x, rows), on(x, rows % 7)], a)
    check_gpu(lambda x: x[x > 0.5], a)
    check_gpu(lambda x: ember.masked_select(x, x < 0), a)


def test_scatter_add_index_add_and_accumulating_put_sum_repeated_indices():
    rng = np.random.default_rng(31)
    base, src = rand((7, 33), 32), rand((40, 33), 33)
    idx = rng.integers(0, 7, (40, 33))  # every row hit several times
    check_gpu(lambda x, s: ember.scatter_add(x, 0, on(x, idx), s), base, src)
    check_gpu(lambda x, s: x.index_add(0, on(x, idx[:, 0]), s, alpha=0.5), base, src)
    check_gpu(lambda x, s: x.index_put((on(x, idx[:, 0]),), s, accumulate=True), base, src)
    perm = np.argsort(rng.random((7, 33)), 1)[:, :5]  # distinct columns per row: scatter without repeats
    check_gpu(lambda x, s: ember.scatter(x, 1, on(x, perm), s[:7, :5]), base, src)
    for dtype, values in ((ember.int64, [1, 2, 3, 4]), (ember.int32, [5, -6, 7, 8]), (ember.uint8, [200, 100, 1, 3]),
                          (ember.bool, [True, False, False, True])):
        out = []
        for device in ("cpu", GPU):
            x = ember.zeros(3, dtype=dtype, device=device)
            x.index_put_((ember.tensor([0, 2, 0, 2], device=device),), ember.tensor(values, dtype=dtype, device=device),
                         accumulate=True)
            out.append(x.tolist())
        assert out[0] == out[1], dtype


def test_bad_indices_raise_index_error_on_the_gpu():
    x = ember.tensor(rand((5, 7)), device=GPU)
    cases = [lambda: x[ember.tensor([0, 5], device=GPU)], lambda: x[ember.tensor([-6], device=GPU)],
             lambda: x.index_select(1, ember.tensor([7], device=GPU)),
             lambda: ember.gather(x, 0, ember.tensor([[0, -1]], device=GPU)),
             lambda: x.index_put_((ember.tensor([9], device=GPU),), ember.tensor(1.0, dtype=F64, device=GPU))]
    for case in cases:
        with pytest.raises(IndexError, match="out of bounds|out of range"):
            case()
    assert x.sum().item() == pytest.approx(rand((5, 7)).sum())  # x untouched, the device still works


def test_index_error_names_the_first_bad_index_like_the_cpu():
    idx = [3, 11, 2, 40, -20]
    msgs = []
    for device in ("cpu", GPU):
        with pytest.raises(IndexError) as e:
            ember.zeros(10, device=device)[ember.tensor(idx, device=device)]
        msgs.append(str(e.value))
    assert msgs[0] == msgs[1] and "11" in msgs[0]


def test_indexing_rejects_an_index_on_another_device():
    if GPU == "cpu":
        pytest.skip("needs two devices")
    x = ember.tensor(rand((5, 7)), device=GPU)
    with pytest.raises((ValueError, RuntimeError), match="cpu"):
        ember.gather(x, 0, ember.tensor([[0, 1]]))


@pytest.mark.parametrize("shape", [(), (1,), (97,), (13, 33), (3, 7, 13), (2, 3, 1, 4, 5), (100003,), (7, 4099)])
@pytest.mark.parametrize("density", [0.0, 0.3, 1.0])
def test_nonzero_in_c_order(shape, density):
    a = np.random.default_rng(34).random(shape) < density
    for dtype in (ember.bool, F32, ember.int64):
        want = ember.nonzero(ember.tensor(a).to(dtype))
        got = ember.nonzero(ember.tensor(a, device=GPU).to(dtype))
        assert got.device.type == GPU and tuple(got.shape) == tuple(want.shape)
        np.testing.assert_array_equal(host(got), host(want))
    if a.ndim:
        got = ember.nonzero(ember.tensor(a, device=GPU), as_tuple=True)
        for g, w in zip(got, np.nonzero(a)):
            np.testing.assert_array_equal(host(g), w)


@pytest.mark.parametrize("k", [-2, 0, 1, 5, -40])
@pytest.mark.parametrize("dtype", [F32, F64, ember.int64, ember.int32, ember.uint8, ember.bool])
def test_tril_triu(k, dtype):
    a = np.random.default_rng(35).integers(1, 100, (3, 7, 13))
    for fn in (ember.tril, ember.triu):
        want = fn(ember.tensor(a).to(dtype), k)
        got = fn(ember.tensor(a, device=GPU).to(dtype), k)
        np.testing.assert_array_equal(host(got), host(want))
        got_t = fn(ember.tensor(a, device=GPU).to(dtype).transpose(1, 2), k)
        np.testing.assert_array_equal(host(got_t), host(fn(ember.tensor(a).to(dtype).transpose(1, 2), k)))


@pytest.mark.parametrize("shape, dim", [((1,), 0), ((97,), 0), ((13, 33), 1), ((13, 33), 0), ((3, 5000), 1),
                                        ((2, 7, 1025), 2), ((7, 2049, 3), 1), ((100003,), 0)])
def test_cumsum(shape, dim):
    check_gpu(lambda x: ember.cumsum(x, dim), rand(shape, 36), tol=REDUCTION, layouts=("contiguous", "transposed"))
    ints = np.random.default_rng(37).integers(-50, 50, shape)
    for dtype in (ember.int64, ember.int32, ember.uint8):
        a = ints.astype(np.uint8) if dtype is ember.uint8 else ints
        want = ember.cumsum(ember.tensor(a).to(dtype), dim)
        got = ember.cumsum(ember.tensor(a, device=GPU).to(dtype), dim)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(host(got), host(want))


def test_cumsum_rows_match_the_column_reference():
    check_fast_matches_reference(lambda x: ember.cumsum(x, 1), rand((5, 10000), 38))


def test_one_hot_on_the_gpu():
    t = np.random.default_rng(39).integers(0, 7, (3, 5))
    got = F.one_hot(ember.tensor(t, device=GPU))
    assert got.device.type == GPU
    np.testing.assert_array_equal(host(got), np.eye(7, dtype=np.int64)[t])


# ---- dropout ------------------------------------------------------------------------------------
DROPOUTS = {"dropout": lambda x: F.dropout(x, 0.3), "dropout2d": lambda x: F.dropout2d(x, 0.5),
            "dropout1d": lambda x: F.dropout1d(x[0], 0.4), "alpha_dropout": lambda x: F.alpha_dropout(x, 0.2, True),
            "rrelu": lambda x: F.rrelu(x, training=True)}


@pytest.mark.parametrize("name", list(DROPOUTS))
@pytest.mark.parametrize("dtype", [F32, F64])
def test_same_seed_gives_the_cpus_dropout_mask(name, dtype):
    a = rand((4, 5, 7, 33), 41)
    out = []
    for device, seed in (("cpu", 1234), (GPU, 1234), (GPU, 99)):
        ember.manual_seed(seed)
        out.append(host(DROPOUTS[name](ember.tensor(a, dtype=dtype, device=device))))
    np.testing.assert_array_equal(out[1], out[0])
    assert not np.array_equal(out[2], out[0])  # the output does depend on the draws


def test_dropout_gradient_uses_the_same_mask():
    a = rand((7, 97), 40)
    grads = []
    for device in ("cpu", GPU):
        ember.manual_seed(7)
        x = ember.tensor(a, device=device, requires_grad=True)
        F.dropout(x, 0.5).sum().backward()
        grads.append(host(x.grad))
    np.testing.assert_array_equal(grads[0], grads[1])


# ---- device mismatch ----------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["cross_entropy_target", "cross_entropy_weight", "batch_norm_running_mean",
                                  "layer_norm_weight", "activation_out", "prelu_weight"])
def test_device_mismatch_names_both_devices(case):
    if GPU == "cpu":
        pytest.skip("needs two devices")
    x = ember.tensor(rand((4, 5)), dtype=F32, device=GPU)
    cpu5 = ember.tensor(rand((5,)), dtype=F32)
    calls = {
        "cross_entropy_target": lambda: F.cross_entropy(x, ember.tensor([0, 1, 2, 3])),
        "cross_entropy_weight": lambda: F.cross_entropy(x, ember.tensor([0, 1, 2, 3], device=GPU), weight=cpu5),
        "batch_norm_running_mean": lambda: F.batch_norm(x, cpu5, ember.ones(5, device=GPU), training=True),
        "layer_norm_weight": lambda: F.layer_norm(x, (5,), cpu5),
        "activation_out": lambda: ember._C.activation(0, x._c, 0.1, 0.0, 0.0, ember.zeros(4, 5)._c),
        "prelu_weight": lambda: F.prelu(x.reshape(1, 4, 5), ember.tensor(rand((4,)), dtype=F32)),
    }
    with pytest.raises((ValueError, RuntimeError)) as e:
        calls[case]()
    assert "cpu" in str(e.value) and "cuda:0" in str(e.value)


def test_bad_pool_and_norm_arguments_raise_clear_errors_on_the_gpu():
    x = ember.tensor(rand((2, 3, 5, 5)), device=GPU)
    with pytest.raises(ValueError, match="pad should be"):
        F.max_pool2d(x, 2, 1, 2)
    with pytest.raises(ValueError, match="Output size is too small"):
        F.avg_pool2d(x, 7)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(x[:1, :, :1, :1], None, None, training=True)
    with pytest.raises(ValueError, match="normalized_shape"):
        F.layer_norm(x, (4,))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x[:, :, 0, 0], ember.tensor([0, 1], device=GPU), label_smoothing=1.5)
