"""CUDA matrix products and convolutions against the CPU in float64: every GEMM layout (the four
transposes, sliced and doubly strided views, odd sizes, split-K depths, batched and broadcast
matmul), the alpha/beta/bias/ReLU epilogue, linear and its fused backward, conv2d and
conv_transpose2d forward and backward over a grid of strides, paddings, dilations and groups, the
fast kernels against the CUDA reference kernels, the TF32 switch and device-mismatch errors.

The CUDA tests skip without a GPU; the TF32 flag tests run everywhere. Inputs are float32 values,
so the float64 CPU result is the exact product of the very numbers the GPU multiplies; float32
results must agree to rtol 1e-3 of the output's largest magnitude (a kernel that drops or repeats
one K slice, misses an edge row or misreads a stride is off by far more)."""
import itertools

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import _C

requires_cuda = pytest.mark.skipif(not ember.cuda.is_available(), reason="CUDA is not available")

RTOL = {ember.float32: 1e-3, ember.float64: 1e-9}
_wrap = ember.Tensor._wrap


def sample(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


def as_numpy(t):
    return t.detach().cpu().numpy().astype(np.float64) if isinstance(t, ember.Tensor) else np.asarray(t, np.float64)


def assert_close(got, want, rtol, what=""):
    got, want = as_numpy(got), as_numpy(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    scale = float(np.abs(want).max(initial=0.0))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(scale, 1e-30), err_msg=what)


def device_tensor(a, layout="contiguous", dtype=ember.float32, device="cuda"):
    """a's values on `device`, stored as asked: 'transposed' holds the last two dims swapped (a
    transposed view), 'sliced' every second element of a wider buffer at an odd offset (unaligned,
    unit stride lost), 'strided' non-unit strides in both of the last two dims."""
    if layout == "transposed":
        return ember.tensor(np.ascontiguousarray(a.swapaxes(-1, -2)), dtype=dtype, device=device).transpose(-1, -2)
    if layout == "sliced":
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1] + 1,), a.dtype)
        big[..., 1::2] = a
        return ember.tensor(big, dtype=dtype, device=device)[..., 1::2]
    if layout == "strided":
        big = np.zeros(a.shape[:-2] + (2 * a.shape[-2] + 1, 3 * a.shape[-1] + 2), a.dtype)
        big[..., 1::2, 2::3] = a
        return ember.tensor(big, dtype=dtype, device=device)[..., 1::2, 2::3]
    return ember.tensor(a, dtype=dtype, device=device)


def check_against_cpu(fn, arrays, dtype=ember.float32, grad=True, seed=0, rtol=None, what=""):
    """fn(*tensors) on CUDA in `dtype` against fn on the CPU in float64, from the same values; with
    grad, also the gradients of sum(out * g) for one random g. None entries pass through."""
    rtol = RTOL[dtype] if rtol is None else rtol

    def leaves(device, dt):
        return [None if a is None else ember.tensor(a, dtype=dt, device=device, requires_grad=grad) for a in arrays]

    gpu, cpu = leaves("cuda", dtype), leaves("cpu", ember.float64)
    y_gpu, y_cpu = fn(*gpu), fn(*cpu)
    assert y_gpu.device == ember.device("cuda:0") and y_gpu.dtype is dtype
    assert_close(y_gpu, y_cpu, rtol, f"{what} forward")
    if not grad:
        return
    g = np.random.default_rng(seed + 1).standard_normal(tuple(y_cpu.shape)).astype(np.float32)
    y_gpu.backward(ember.tensor(g, dtype=dtype, device="cuda"))
    y_cpu.backward(ember.tensor(g, dtype=ember.float64))
    for i, (tg, tc) in enumerate(zip(gpu, cpu)):
        if tg is not None:
            assert_close(tg.grad, tc.grad, rtol, f"{what} grad of input {i}")


# ---- GEMM -----------------------------------------------------------------------------------------
# (M, K, N): every odd size as each of M, K and N, vector-shaped products, 16-byte-aligned ones
# (vector loads), and one 1025 case.
GEMM_SHAPES = [(1, 1, 1), (1, 3, 257), (3, 17, 7), (7, 33, 1), (17, 97, 33), (33, 1, 17), (97, 7, 129),
               (129, 257, 97), (257, 129, 3), (129, 33, 257), (64, 256, 128), (1025, 129, 33)]
FLOAT_TYPES = [ember.float32, ember.float64]


def cpu_matmul64(a, b):
    return ember.tensor(a, dtype=ember.float64) @ ember.tensor(b, dtype=ember.float64)


@requires_cuda
@pytest.mark.parametrize("dtype", FLOAT_TYPES, ids=str)
@pytest.mark.parametrize("la, lb", list(itertools.product(["contiguous", "transposed"], repeat=2)))
@pytest.mark.parametrize("m, k, n", GEMM_SHAPES)
def test_matmul_matches_cpu_float64_for_all_four_transposes(m, k, n, la, lb, dtype):
    rng = np.random.default_rng(m * 1000 + k * 10 + n)
    a, b = sample(rng, (m, k)), sample(rng, (k, n))
    got = device_tensor(a, la, dtype) @ device_tensor(b, lb, dtype)
    assert_close(got, cpu_matmul64(a, b), RTOL[dtype], f"{m}x{k}x{n} {la}/{lb}")


@requires_cuda
@pytest.mark.parametrize("dtype", FLOAT_TYPES, ids=str)
@pytest.mark.parametrize("la, lb", [("sliced", "contiguous"), ("contiguous", "sliced"), ("strided", "strided"),
                                    ("strided", "transposed"), ("sliced", "strided")])
@pytest.mark.parametrize("m, k, n", [(3, 17, 7), (33, 97, 17), (129, 64, 65), (257, 33, 129)])
def test_matmul_reads_sliced_and_strided_operands_without_copies(m, k, n, la, lb, dtype):
    rng = np.random.default_rng(7)
    a, b = sample(rng, (m, k)), sample(rng, (k, n))
    got = device_tensor(a, la, dtype) @ device_tensor(b, lb, dtype)
    assert_close(got, cpu_matmul64(a, b), RTOL[dtype], f"{la}/{lb}")


@requires_cuda
@pytest.mark.parametrize("dtype", FLOAT_TYPES, ids=str)
@pytest.mark.parametrize("m, k, n", [(17, 4099, 33), (64, 8192, 64), (1, 6000, 129), (5, 20000, 3)])
def test_long_k_with_few_output_tiles_splits_k_and_still_matches(m, k, n, dtype):
    rng = np.random.default_rng(k)
    a, b = sample(rng, (m, k)), sample(rng, (k, n))
    for la, lb in [("contiguous", "contiguous"), ("transposed", "transposed")]:
        got = device_tensor(a, la, dtype) @ device_tensor(b, lb, dtype)
        assert_close(got, cpu_matmul64(a, b), RTOL[dtype], f"{m}x{k}x{n} {la}")


@requires_cuda
@pytest.mark.parametrize("m, k, n", [(2049, 257, 1025), (1537, 96, 1543)])
def test_large_products_that_fill_the_gpu_with_big_tiles(m, k, n):
    rng = np.random.default_rng(5)
    a, b = sample(rng, (m, k)), sample(rng, (k, n))
    for la, lb in [("contiguous", "contiguous"), ("transposed", "contiguous"), ("contiguous", "transposed")]:
        got = device_tensor(a, la) @ device_tensor(b, lb)
        assert_close(got, cpu_matmul64(a, b), RTOL[ember.float32], f"{la}/{lb}")


@requires_cuda
@pytest.mark.parametrize("dtype", FLOAT_TYPES, ids=str)
@pytest.mark.parametrize("sa, sb", [((5, 17, 33), (5, 33, 9)),          # bmm
                                    ((16, 257, 129), (16, 129, 257)),   # a batch of big tiles
                                    ((5, 17, 33), (33, 9)),             # b broadcast (stride 0)
                                    ((33, 9), (4, 9, 7)),               # a broadcast
                                    ((4, 1, 17, 33), (3, 33, 7)),       # batch dims that do not coalesce
                                    ((2, 3, 1, 7, 5), (3, 4, 5, 6)),
                                    ((33,), (5, 33, 9)), ((5, 17, 33), (33,)), ((129,), (129,))])
def test_batched_and_broadcast_matmul_match_cpu(sa, sb, dtype):
    rng = np.random.default_rng(len(sa) * 10 + len(sb))
    a, b = sample(rng, sa), sample(rng, sb)
    got = ember.matmul(device_tensor(a, dtype=dtype), device_tensor(b, dtype=dtype))
    assert_close(got, ember.matmul(ember.tensor(a, dtype=ember.float64), ember.tensor(b, dtype=ember.float64)),
                 RTOL[dtype], f"{sa} @ {sb}")


@requires_cuda
def test_bmm_of_transposed_batch_items_and_more_than_65535_products():
    rng = np.random.default_rng(11)
    a, b = sample(rng, (6, 33, 17)), sample(rng, (6, 9, 33))
    got = ember.bmm(device_tensor(a).transpose(1, 2), device_tensor(b).transpose(1, 2))
    want = ember.bmm(ember.tensor(a, dtype=ember.float64).transpose(1, 2),
                     ember.tensor(b, dtype=ember.float64).transpose(1, 2))
    assert_close(got, want, 1e-3)
    # More batch items than one launch's grid.y holds.
    a, b = sample(rng, (70001, 2, 3)), sample(rng, (70001, 3, 4))
    assert_close(ember.bmm(device_tensor(a), device_tensor(b)), np.einsum("bij,bjk->bik", a.astype(np.float64), b),
                 1e-3)


@requires_cuda
@pytest.mark.parametrize("dtype", FLOAT_TYPES, ids=str)
@pytest.mark.parametrize("c_shape", [(17, 33), (33,), (17, 1)])
@pytest.mark.parametrize("beta, alpha", [(1.0, 1.0), (0.5, -1.5), (0.0, 2.0), (-2.0, 0.25)])
def test_addmm_alpha_beta_and_broadcast_input_match_cpu(beta, alpha, c_shape, dtype):
    rng = np.random.default_rng(3)
    c, a, b = sample(rng, c_shape), sample(rng, (17, 129)), sample(rng, (129, 33))
    check_against_cpu(lambda c, a, b: ember.addmm(c, a, b, beta=beta, alpha=alpha), [c, a, b], dtype,
                      what=f"beta={beta} alpha={alpha}")


@requires_cuda
def test_addmm_with_beta_zero_ignores_nan_input_and_alpha_zero_reads_no_operand():
    rng = np.random.default_rng(4)
    a, b = device_tensor(sample(rng, (7, 5))), device_tensor(sample(rng, (5, 3)))
    nan_c = ember.full((7, 3), float("nan"), device="cuda")
    out = ember.addmm(nan_c, a, b, beta=0.0)
    assert np.isfinite(as_numpy(out)).all()
    assert_close(out, as_numpy(a) @ as_numpy(b), 1e-5)
    inf_a = ember.full((7, 5), float("inf"), device="cuda")
    c = device_tensor(sample(rng, (7, 3)))
    assert_close(ember.addmm(c, inf_a, b, beta=0.5, alpha=0.0), 0.5 * as_numpy(c), 1e-7)


@requires_cuda
def test_products_with_an_empty_dimension():
    z = ember.matmul(ember.ones(3, 0, device="cuda"), ember.ones(0, 4, device="cuda"))
    assert tuple(z.shape) == (3, 4) and not as_numpy(z).any()
    assert tuple(ember.matmul(ember.ones(0, 5, device="cuda"), ember.ones(5, 4, device="cuda")).shape) == (0, 4)
    c = ember.full((3, 4), 2.0, device="cuda")
    assert_close(ember.addmm(c, ember.ones(3, 0, device="cuda"), ember.ones(0, 4, device="cuda"), beta=1.5),
                 np.full((3, 4), 3.0), 1e-7)


@requires_cuda
@pytest.mark.parametrize("dtype", FLOAT_TYPES, ids=str)
@pytest.mark.parametrize("m, k, n", [(1, 1, 1), (17, 33, 7), (129, 257, 97), (33, 5000, 9)])
def test_fast_gemm_matches_the_cuda_reference_kernel_and_the_reference_matches_the_cpu(m, k, n, dtype):
    rng = np.random.default_rng(m + k + n)
    a, b, bias = sample(rng, (m, k)), sample(rng, (k, n)), sample(rng, (n,))
    want = cpu_matmul64(a, b)
    for la, lb in [("contiguous", "transposed"), ("strided", "contiguous")]:
        ga, gb = device_tensor(a, la, dtype), device_tensor(b, lb, dtype)
        fast, ref = _wrap(_C.matmul(ga._c, gb._c)), _wrap(_C.matmul(ga._c, gb._c, reference=True))
        assert_close(fast, ref, RTOL[dtype], "fast vs reference")
        # The reference accumulates in double: only the final rounding to dtype separates it from the CPU.
        assert_close(ref, want, 1e-6 if dtype is ember.float32 else 1e-12, "reference vs CPU")
    c, gbias = device_tensor(sample(rng, (m, n)), dtype=dtype), device_tensor(bias, "sliced", dtype)
    ga, gb = device_tensor(a, dtype=dtype), device_tensor(b, dtype=dtype)
    fused = [_wrap(_C.addmm(c._c, ga._c, gb._c, 0.5, -2.0, gbias._c, 1, None, ref)) for ref in (False, True)]
    assert_close(fused[0], fused[1], RTOL[dtype], "fused epilogue, fast vs reference")
    want = np.maximum(0.5 * as_numpy(c) - 2.0 * (a.astype(np.float64) @ b) + bias, 0.0)
    assert_close(fused[1], want, 1e-6 if dtype is ember.float32 else 1e-12, "fused epilogue reference vs numpy")


def test_reference_kwarg_runs_the_plain_loop_kernels_on_the_cpu_too():
    rng = np.random.default_rng(6)
    a, b = sample(rng, (3, 4, 17, 9)), sample(rng, (4, 9, 5))  # non-coalescing batch dims
    got = _wrap(_C.matmul(ember.tensor(a)._c, ember.tensor(b)._c, reference=True))
    assert_close(got, np.matmul(a.astype(np.float64), b), 1e-6)
    c, bias = sample(rng, (17, 5)), sample(rng, (5,))
    out = _wrap(_C.addmm(ember.tensor(c)._c, ember.tensor(a[0, 0])._c, ember.tensor(b[0])._c, 0.5, -2.0,
                         ember.tensor(bias)._c, 1, None, True))
    assert_close(out, np.maximum(0.5 * c - 2.0 * (a[0, 0].astype(np.float64) @ b[0]) + bias, 0.0), 1e-6)


# ---- linear ---------------------------------------------------------------------------------------
@requires_cuda
@pytest.mark.parametrize("dtype", FLOAT_TYPES, ids=str)
@pytest.mark.parametrize("x_shape, out_f, bias, act", [((7, 33), 17, True, "relu"), ((7, 33), 17, False, None),
                                                       ((2, 5, 129), 257, True, "relu"), ((1025, 97), 65, True, None),
                                                       ((3, 1), 1, True, "relu"), ((64, 784), 512, True, "relu"),
                                                       ((7, 33), 17, True, "tanh"), ((2, 5, 129), 65, False, "sigmoid")])
def test_linear_with_bias_and_relu_and_its_backward_match_cpu(x_shape, out_f, bias, act, dtype):
    rng = np.random.default_rng(x_shape[-1] + out_f)
    x, w = sample(rng, x_shape), sample(rng, (out_f, x_shape[-1]))
    b = sample(rng, (out_f,)) if bias else None
    check_against_cpu(lambda x, w, b: F.linear(x, w, b, activation=act), [x, w, b], dtype,
                      what=f"linear {x_shape}->{out_f} act={act}")


@requires_cuda
def test_linear_on_non_contiguous_input_weight_and_bias():
    rng = np.random.default_rng(8)
    x, w, b = sample(rng, (33, 65)), sample(rng, (17, 65)), sample(rng, (17,))
    want = np.maximum(x.astype(np.float64) @ w.T + b, 0.0)
    for lx, lw in [("transposed", "transposed"), ("sliced", "strided"), ("strided", "contiguous")]:
        got = F.linear(device_tensor(x, lx), device_tensor(w, lw), device_tensor(b, "sliced"), activation="relu")
        assert_close(got, want, 1e-3, f"{lx}/{lw}")


@requires_cuda
def test_linear_backward_with_create_graph_matches_the_fused_backward():
    rng = np.random.default_rng(9)
    x, w, b = sample(rng, (9, 33)), sample(rng, (17, 33)), sample(rng, (17,))
    g = device_tensor(sample(rng, (9, 17)))
    grads = []
    for create_graph in (False, True):
        tx, tw, tb = (ember.tensor(v, device="cuda", requires_grad=True) for v in (x, w, b))
        y = F.linear(tx, tw, tb, activation="relu")
        grads.append(ember.autograd.grad(y, [tx, tw, tb], g, create_graph=create_graph))
    for fused, graph in zip(*grads):
        assert_close(fused, graph, 1e-5)


@requires_cuda
def test_linear_backward_binding_gives_dx_dw_db_on_cuda():
    rng = np.random.default_rng(10)
    x, w, dy = sample(rng, (2, 5, 33)), sample(rng, (17, 33)), sample(rng, (2, 5, 17))
    gx, gw, gdy = device_tensor(x), device_tensor(w), device_tensor(dy)
    dx, dw, db = (_wrap(t) for t in _C.linear_backward(gdy._c, gx._c, gw._c, None, 0, True, True, True))
    x2, dy2 = x.reshape(-1, 33).astype(np.float64), dy.reshape(-1, 17).astype(np.float64)
    assert_close(dx, (dy2 @ w).reshape(2, 5, 33), 1e-3)
    assert_close(dw, dy2.T @ x2, 1e-3)
    assert_close(db, dy2.sum(0), 1e-3)


# ---- TF32 -----------------------------------------------------------------------------------------
@pytest.fixture
def tf32():
    """Turns allow_tf32 on for one test and restores it afterwards."""
    old = ember.backends.cuda.matmul.allow_tf32
    ember.backends.cuda.matmul.allow_tf32 = True
    yield
    ember.backends.cuda.matmul.allow_tf32 = old


def test_allow_tf32_is_off_by_default_and_round_trips_through_cpp():
    assert ember.backends.cuda.matmul.allow_tf32 is False
    assert _C.matmul_allow_tf32() is False
    try:
        ember.backends.cuda.matmul.allow_tf32 = True
        assert _C.matmul_allow_tf32() is True and ember.backends.cuda.matmul.allow_tf32 is True
    finally:
        ember.backends.cuda.matmul.allow_tf32 = False
    assert _C.matmul_allow_tf32() is False


def test_allow_tf32_rejects_non_bools():
    for bad in (1, "yes", None):
        with pytest.raises(TypeError, match="allow_tf32 must be a bool"):
            ember.backends.cuda.matmul.allow_tf32 = bad
    assert ember.backends.cuda.matmul.allow_tf32 is False


def test_cpu_matmul_ignores_allow_tf32(tf32):
    rng = np.random.default_rng(12)
    a, b = sample(rng, (33, 65)), sample(rng, (65, 17))
    assert_close(ember.tensor(a) @ ember.tensor(b), a.astype(np.float64) @ b, 1e-5)


def rel_error(got, want):
    got, want = as_numpy(got), as_numpy(want)
    return float(np.linalg.norm(got - want) / np.linalg.norm(want))


@requires_cuda
def test_tf32_is_used_only_when_allowed():
    rng = np.random.default_rng(13)
    a, b = sample(rng, (256, 1024)), sample(rng, (1024, 256))
    want = cpu_matmul64(a, b)
    exact = rel_error(device_tensor(a) @ device_tensor(b), want)
    assert exact < 2e-5, f"float32 error {exact:.2e}: TF32 must be off by default"
    ember.backends.cuda.matmul.allow_tf32 = True
    try:
        fast = rel_error(device_tensor(a) @ device_tensor(b), want)
    finally:
        ember.backends.cuda.matmul.allow_tf32 = False
    # TF32 keeps 10 mantissa bits: a relative error near 3e-4, far from float32's ~1e-6.
    assert 5e-5 < fast < 3e-3, f"TF32 error {fast:.2e}"


@requires_cuda
@pytest.mark.parametrize("la, lb", list(itertools.product(["contiguous", "transposed", "sliced"], repeat=2)))
@pytest.mark.parametrize("m, k, n", [(1, 1, 1), (97, 33, 129), (257, 7, 17), (130, 3000, 70), (1025, 129, 257)])
def test_tf32_matmul_handles_every_layout_and_edge(m, k, n, la, lb, tf32):
    rng = np.random.default_rng(m + n)
    a, b = sample(rng, (m, k)), sample(rng, (k, n))
    got = device_tensor(a, la) @ device_tensor(b, lb)
    assert_close(got, cpu_matmul64(a, b), 1e-2, f"{m}x{k}x{n} {la}/{lb}")
    assert rel_error(got, cpu_matmul64(a, b)) < 3e-3


@requires_cuda
def test_tf32_linear_epilogue_batches_and_float64_under_tf32(tf32):
    rng = np.random.default_rng(14)
    x, w, bias = sample(rng, (3, 65, 129)), sample(rng, (33, 129)), sample(rng, (33,))
    got = F.linear(device_tensor(x), device_tensor(w), device_tensor(bias), activation="relu")
    assert_close(got, np.maximum(x.astype(np.float64) @ w.T + bias, 0.0), 1e-2)
    a, b = sample(rng, (4, 33, 65)), sample(rng, (4, 65, 17))
    assert_close(ember.bmm(device_tensor(a), device_tensor(b)), np.einsum("bij,bjk->bik", a.astype(np.float64), b),
                 1e-2)
    # float64 never takes the TF32 path.
    got64 = ember.bmm(device_tensor(a, dtype=ember.float64), device_tensor(b, dtype=ember.float64))
    assert_close(got64, np.einsum("bij,bjk->bik", a.astype(np.float64), b), 1e-12)


# ---- conv2d ---------------------------------------------------------------------------------------
def conv_params(stride=1, padding=0, dilation=1, groups=1):
    s, p, d = (stride, stride), (padding, padding, padding, padding), (dilation, dilation)
    return s + p + d + (groups,)


@requires_cuda
@pytest.mark.parametrize("stride, padding, dilation, groups", list(itertools.product([1, 2, 3], [0, 1, 2], [1, 2],
                                                                                     [1, 2, 4])))
def test_conv2d_forward_and_backward_grid_matches_cpu(stride, padding, dilation, groups):
    # groups = 4 = C is the depthwise path (channel multiplier 2); 1 and 2 the implicit GEMM.
    rng = np.random.default_rng(stride * 100 + padding * 10 + dilation + groups)
    x, w, b = sample(rng, (2, 4, 11, 9)), sample(rng, (8, 4 // groups, 3, 3)), sample(rng, (8,))
    check_against_cpu(lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups), [x, w, b],
                      what=f"s={stride} p={padding} d={dilation} g={groups}")


# (N, C, H, W), (O, kH, kW), stride, padding, dilation, groups, bias
CONV_CASES = [
    ((1, 1, 7, 5), (3, 3, 1), 1, (1, 0), 1, 1, True),    # one input channel
    ((2, 3, 13, 13), (5, 5, 5), 3, 2, 1, 1, True),
    ((2, 6, 9, 7), (4, 1, 1), 1, 0, 1, 1, False),        # pointwise
    ((3, 4, 7, 5), (6, 1, 1), 2, 0, 1, 2, True),         # strided pointwise, grouped
    ((2, 4, 5, 7), (6, 3, 2), (1, 2), (2, 1), (2, 1), 2, False),
    ((1, 3, 1, 17), (2, 1, 3), 1, (0, 1), 1, 1, True),   # height 1 (conv1d's shape)
    ((2, 3, 9, 9), (3, 3, 3), 1, 1, 1, 3, True),         # depthwise, multiplier 1
    ((8, 32, 33, 31), (64, 3, 3), 1, 1, 1, 1, True),     # many pixels: weight grad splits K
    ((4, 64, 17, 17), (128, 3, 3), 2, 1, 1, 1, True),    # more filters than one tile row
    ((2, 24, 15, 15), (48, 3, 3), 1, 2, 2, 3, True),
    ((1, 5, 3, 3), (7, 3, 3), 1, 0, 1, 1, True),         # a 1x1 output
]


def conv_case_id(case):
    xs, ks, *_, groups, _ = case
    return f"x{'x'.join(map(str, xs))}-w{'x'.join(map(str, ks))}-g{groups}"


@requires_cuda
@pytest.mark.parametrize("dtype", FLOAT_TYPES, ids=str)
@pytest.mark.parametrize("xs, ks, stride, padding, dilation, groups, bias", CONV_CASES,
                         ids=[conv_case_id(c) for c in CONV_CASES])
def test_conv2d_cases_forward_and_backward_match_cpu(xs, ks, stride, padding, dilation, groups, bias, dtype):
    rng = np.random.default_rng(sum(xs) + sum(ks))
    x, w = sample(rng, xs), sample(rng, (ks[0], xs[1] // groups, ks[1], ks[2]))
    b = sample(rng, (ks[0],)) if bias else None
    check_against_cpu(lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups), [x, w, b], dtype,
                      what=f"{xs} {ks}")


@requires_cuda
@pytest.mark.parametrize("kernel", [2, 4])
def test_conv2d_same_padding_with_even_kernels_pads_bottom_right_more(kernel):
    rng = np.random.default_rng(kernel)
    x, w, b = sample(rng, (2, 3, 10, 7)), sample(rng, (5, 3, kernel, kernel)), sample(rng, (5,))
    check_against_cpu(lambda x, w, b: F.conv2d(x, w, b, padding="same", dilation=2), [x, w, b])


@requires_cuda
def test_conv1d_and_unbatched_conv2d_match_cpu():
    rng = np.random.default_rng(15)
    x, w, b = sample(rng, (3, 6, 29)), sample(rng, (4, 3, 5)), sample(rng, (4,))
    check_against_cpu(lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=3, dilation=2, groups=2), [x, w, b])
    x3, w3 = sample(rng, (3, 9, 8)), sample(rng, (4, 3, 3, 3))
    check_against_cpu(lambda x, w: F.conv2d(x, w, padding=1), [x3, w3])


@requires_cuda
@pytest.mark.parametrize("groups", [1, 2, 4])
@pytest.mark.parametrize("padding", [0, 1, 2])
def test_conv2d_fast_kernels_match_the_cuda_reference_kernel(groups, padding):
    rng = np.random.default_rng(groups * 3 + padding)
    x, w, b = sample(rng, (3, 4, 13, 11)), sample(rng, (8, 4 // groups, 3, 3)), sample(rng, (8,))
    p = conv_params(2, padding, 2 if padding else 1, groups)
    gx, gw, gb = device_tensor(x), device_tensor(w), device_tensor(b)
    fast = _wrap(_C.conv2d(gx._c, gw._c, gb._c, p))
    ref = _wrap(_C.conv2d_reference(gx._c, gw._c, gb._c, p))
    assert ref.device == ember.device("cuda:0")
    assert_close(fast, ref, 1e-3, "fast vs CUDA reference")
    cpu = _wrap(_C.conv2d(*(ember.tensor(v, dtype=ember.float64)._c for v in (x, w, b)), p))
    assert_close(ref, cpu, 1e-6, "CUDA reference vs CPU float64")


@requires_cuda
def test_conv2d_of_an_empty_batch_gives_empty_output_and_zero_weight_gradient():
    w = ember.tensor(np.ones((4, 3, 3, 3), np.float32), device="cuda", requires_grad=True)
    b = ember.tensor(np.ones(4, np.float32), device="cuda", requires_grad=True)
    y = F.conv2d(ember.ones(0, 3, 8, 8, device="cuda"), w, b, padding=1)
    assert tuple(y.shape) == (0, 4, 8, 8)
    y.sum().backward()
    assert not as_numpy(w.grad).any() and not as_numpy(b.grad).any()


# ---- conv_transpose2d -----------------------------------------------------------------------------
@requires_cuda
@pytest.mark.parametrize("stride, output_padding, dilation, groups",
                         [(s, op, d, g) for s, op, d, g in itertools.product([1, 2, 3], [0, 1, 2], [1, 2], [1, 2, 4])
                          if op < s or op < d])
def test_conv_transpose2d_with_output_padding_forward_and_backward_match_cpu(stride, output_padding, dilation,
                                                                            groups):
    # groups = 4 = C_in with one output channel per group makes the underlying convolution depthwise.
    rng = np.random.default_rng(stride * 100 + output_padding * 10 + dilation + groups)
    per_group = 1 if groups == 4 else 3
    x, w, b = sample(rng, (2, 4, 5, 7)), sample(rng, (4, per_group, 3, 3)), sample(rng, (per_group * groups,))
    check_against_cpu(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=stride, padding=1,
                                                         output_padding=output_padding, groups=groups,
                                                         dilation=dilation),
                      [x, w, b], what=f"s={stride} op={output_padding} d={dilation} g={groups}")


@requires_cuda
@pytest.mark.parametrize("dtype", FLOAT_TYPES, ids=str)
def test_conv_transpose2d_decoder_shape_matches_cpu(dtype):
    rng = np.random.default_rng(16)
    x, w, b = sample(rng, (4, 64, 8, 8)), sample(rng, (64, 32, 4, 4)), sample(rng, (32,))
    check_against_cpu(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1), [x, w, b], dtype)


@requires_cuda
def test_conv_gradients_of_gradients_run_on_cuda():
    """create_graph: the backward is itself made of the three CUDA convolution kernels."""
    rng = np.random.default_rng(17)
    x, w = sample(rng, (2, 4, 7, 6)), sample(rng, (6, 2, 3, 3))
    results = []
    for device, dt in (("cuda", ember.float32), ("cpu", ember.float64)):
        tx = ember.tensor(x, dtype=dt, device=device, requires_grad=True)
        tw = ember.tensor(w, dtype=dt, device=device, requires_grad=True)
        y = F.conv2d(tx, tw, stride=2, padding=1, groups=2)
        (gx,) = ember.autograd.grad(y.square().sum(), [tx], create_graph=True)
        gx.square().sum().backward()
        results.append((gx, tw.grad))
    for got, want in zip(*results):
        assert_close(got, want, 1e-3)


# ---- device mismatches ----------------------------------------------------------------------------
def assert_names_both_devices(fn):
    with pytest.raises(ValueError) as info:
        fn()
    assert "cpu" in str(info.value) and "cuda:0" in str(info.value), str(info.value)


@requires_cuda
def test_device_mismatch_raises_value_error_naming_both_devices():
    gpu = lambda *s: ember.ones(*s, device="cuda")  # noqa: E731
    cpu = lambda *s: ember.ones(*s)  # noqa: E731
    assert_names_both_devices(lambda: cpu(3, 4) @ gpu(4, 5))
    assert_names_both_devices(lambda: ember.bmm(gpu(2, 3, 4), cpu(2, 4, 5)))
    assert_names_both_devices(lambda: ember.addmm(cpu(3, 5), gpu(3, 4), gpu(4, 5)))
    assert_names_both_devices(lambda: _C.addmm(None, gpu(3, 4)._c, gpu(4, 5)._c, 0.0, 1.0, None, 0, cpu(3, 5)._c))
    assert_names_both_devices(lambda: F.linear(gpu(2, 4), cpu(3, 4)))
    assert_names_both_devices(lambda: F.linear(gpu(2, 4), gpu(3, 4), cpu(3)))
    assert_names_both_devices(lambda: F.conv2d(gpu(1, 2, 5, 5), cpu(3, 2, 3, 3)))
    assert_names_both_devices(lambda: F.conv2d(gpu(1, 2, 5, 5), gpu(3, 2, 3, 3), cpu(3)))
    assert_names_both_devices(lambda: F.conv_transpose2d(cpu(1, 2, 5, 5), gpu(2, 3, 3, 3)))
    assert_names_both_devices(lambda: _C.conv2d_backward_weight(gpu(1, 3, 3, 3)._c, cpu(1, 2, 5, 5)._c,
                                                                (3, 2, 3, 3), conv_params(), True, True))
