"""Matrix products: ember's GEMM against a float64 NumPy reference on every size combination,
transpose and dtype; matmul's shape rules; addmm/linear epilogues; gradients."""
import itertools
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import ember
import ember.backends.cpu
from ember._functions.linalg import linear

ROOT = Path(__file__).resolve().parent.parent
SIZES = (1, 2, 3, 7, 16, 17, 33, 64, 97, 257)


def _tol(dtype, k):
    # float32: rtol 1e-4 with the accumulation length taken into account.
    return (1e-4 * max(1.0, np.sqrt(k) / 4), 1e-4 * max(1.0, np.sqrt(k) / 4)) if dtype == np.float32 else (1e-10, 1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta, tb", list(itertools.product([False, True], repeat=2)))
def test_gemm_matches_reference_for_every_size_combination(dtype, ta, tb):
    rng = np.random.default_rng(0)
    for m, n, k in itertools.product(SIZES, repeat=3):
        if m * n * k > 2_000_000 and (m, n, k) != (257, 257, 257):
            continue  # the big cubes are covered by the (257, 257, 257) case and by test_gemm_large
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
        ea, eb = ember.from_numpy(a), ember.from_numpy(b)
        ea = ea.T if ta else ea  # transposes are read through strides, not copied
        eb = eb.T if tb else eb
        ref = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
        rtol, atol = _tol(dtype, k)
        np.testing.assert_allclose((ea @ eb).numpy(), ref, rtol=rtol, atol=atol, err_msg=f"{m}x{k}x{n}")


@pytest.mark.parametrize("shape", [(1025, 17, 33), (33, 1025, 7), (64, 97, 1025), (257, 257, 257)])
def test_gemm_large_and_odd(shape):
    m, k, n = shape
    rng = np.random.default_rng(1)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    rtol, atol = _tol(np.float32, k)
    np.testing.assert_allclose((ember.from_numpy(a) @ ember.from_numpy(b)).numpy(),
                               a.astype(np.float64) @ b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, k, n", [(64, 16384, 42), (7, 3000, 33), (33, 1025, 1), (13, 4097, 12)])
def test_gemm_with_a_long_k_split_between_threads(dtype, m, k, n):
    # A small C over a long K takes the K-split path with several threads (each thread's partial
    # product over its part of K, added at the end): alpha, beta and a C that is a strided view
    # must come out as with one thread.
    rng = np.random.default_rng(5)
    a = rng.standard_normal((k, m)).astype(dtype)  # read transposed, as a weight gradient's dY^T
    b = rng.standard_normal((k, n)).astype(dtype)
    c0 = rng.standard_normal((n, m)).astype(dtype)
    ref = 0.5 * c0.T.astype(np.float64) - 2.0 * (a.T.astype(np.float64) @ b)
    rtol, atol = _tol(dtype, k)
    prev = ember.get_num_threads()
    try:
        for threads in (1, 2):
            ember.set_num_threads(threads)
            c = ember.from_numpy(c0.copy()).T  # (m, n), column stride != 1
            got = ember.addmm(c, ember.from_numpy(a).T, ember.from_numpy(b), beta=0.5, alpha=-2.0)
            np.testing.assert_allclose(got.numpy(), ref, rtol=rtol, atol=atol, err_msg=f"{threads} threads")
            np.testing.assert_allclose((ember.from_numpy(a).T @ ember.from_numpy(b)).numpy(), a.T.astype(np.float64) @ b,
                                       rtol=rtol, atol=atol)
    finally:
        ember.set_num_threads(prev)


def test_gemm_on_strided_operands():
    rng = np.random.default_rng(2)
    base_a = rng.standard_normal((40, 60))
    base_b = rng.standard_normal((70, 50))
    a = base_a[1:38:3, 2:50:2]     # 13 x 24, both strides non-unit
    b = base_b[3:51:2, ::3][:, :9]  # 24 x 9
    ea = ember.from_numpy(base_a)[1:38:3, 2:50:2] if hasattr(ember.Tensor, "__getitem__") else ember.from_numpy(a)
    eb = ember.from_numpy(b)
    np.testing.assert_allclose((ea @ eb).numpy(), a @ b, rtol=1e-12)


def test_matmul_shape_rules_match_numpy():
    rng = np.random.default_rng(3)
    cases = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)),
             ((2, 1, 3, 4), (5, 4, 2)), ((1, 3), (3, 1)), ((4, 1, 2, 3), (1, 6, 3, 2))]
    for sa, sb in cases:
        a, b = rng.standard_normal(sa), rng.standard_normal(sb)
        out = ember.matmul(ember.from_numpy(a), ember.from_numpy(b))
        np.testing.assert_allclose(out.numpy(), np.matmul(a, b), rtol=1e-12, err_msg=f"{sa} @ {sb}")
        assert tuple(out.shape) == np.matmul(a, b).shape


def test_matmul_with_zero_sized_dims():
    assert (ember.zeros(3, 0) @ ember.zeros(0, 4)).tolist() == [[0.0] * 4] * 3
    assert (ember.zeros(0, 5) @ ember.zeros(5, 2)).shape == (0, 2)


def test_mm_bmm_addmm_dot_mv():
    rng = np.random.default_rng(4)
    a, b, c = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal((4, 5))
    E = ember.from_numpy
    np.testing.assert_allclose(ember.mm(E(a), E(b)).numpy(), a @ b)
    np.testing.assert_allclose(ember.addmm(E(c), E(a), E(b), beta=0.5, alpha=2).numpy(), 0.5 * c + 2 * (a @ b))
    np.testing.assert_allclose(ember.addmm(E(c[0]), E(a), E(b)).numpy(), c[0] + a @ b)  # broadcast input
    x, y = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 3, 6))
    np.testing.assert_allclose(ember.bmm(E(x), E(y)).numpy(), x @ y)
    np.testing.assert_allclose(ember.dot(E(a[:, 0]), E(a[:, 1])).item(), a[:, 0] @ a[:, 1])
    np.testing.assert_allclose(ember.mv(E(a), E(b[:, 0])).numpy(), a @ b[:, 0])


def test_linear_fuses_bias_and_relu():
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((2, 7, 5)), rng.standard_normal((3, 5)), rng.standard_normal(3)
    E = ember.from_numpy
    np.testing.assert_allclose(linear(E(x), E(w), E(b)).numpy(), x @ w.T + b, rtol=1e-12)
    np.testing.assert_allclose(linear(E(x), E(w), E(b), activation="relu").numpy(),
                               np.maximum(x @ w.T + b, 0), rtol=1e-12)
    np.testing.assert_allclose(linear(E(x).transpose(0, 1), E(w)).numpy(), x.transpose(1, 0, 2) @ w.T, rtol=1e-12)
    np.testing.assert_allclose(linear(E(x), E(w), E(b), activation="tanh").numpy(), np.tanh(x @ w.T + b), rtol=1e-12)
    np.testing.assert_allclose(linear(E(x), E(w), E(b), activation="sigmoid").numpy(),
                               1 / (1 + np.exp(-(x @ w.T + b))), rtol=1e-12)


@pytest.mark.parametrize("act, unfused", [("relu", ember.relu), ("tanh", ember.tanh), ("sigmoid", ember.sigmoid)])
def test_fused_activation_is_bitwise_the_unfused_pair_in_float32(act, unfused):
    rng = np.random.default_rng(11)
    x, w, b = (ember.from_numpy(rng.standard_normal(s, dtype=np.float32)) for s in ((97, 33), (7, 33), (7,)))
    np.testing.assert_array_equal(linear(x, w, b, activation=act).numpy(), unfused(linear(x, w, b)).numpy())


def test_linear_activation_errors():
    x, w = ember.randn(2, 3), ember.randn(4, 3)
    with pytest.raises(ValueError, match="activation must be None, 'relu', 'tanh' or 'sigmoid', got 'gelu'"):
        linear(x, w, activation="gelu")
    with pytest.raises(ValueError, match="activation must be .* got 1"):
        linear(x, w, activation=1)
    with pytest.raises(ValueError, match=r"act must be 0 \(none\), 1 \(relu\), 2 \(tanh\) or 3 \(sigmoid\), got 7"):
        ember._C.linear(x._c, w._c, None, 7)
    with pytest.raises(ValueError, match=r"addmm: act must be 0 \(none\) or 1 \(relu\), got 2"):
        ember._C.addmm(None, x._c, w.T._c, act=2)


def _req(*shape, seed=0):
    rng = np.random.default_rng(seed)
    return ember.tensor(rng.standard_normal(shape), dtype=ember.float64, requires_grad=True)


@pytest.mark.parametrize("sa, sb", [((3, 4), (4, 2)), ((4,), (4, 3)), ((2, 3, 4), (4,)), ((2, 1, 3, 4), (5, 4, 2)),
                                    ((5,), (5,))])
def test_matmul_gradients(sa, sb):
    assert ember.autograd.gradcheck(ember.matmul, (_req(*sa), _req(*sb, seed=1)))


def test_matmul_second_order_gradients():
    assert ember.autograd.gradgradcheck(ember.matmul, (_req(3, 4), _req(4, 2, seed=1)))


def test_linear_and_addmm_gradients():
    x, w, b = _req(2, 5, 3), _req(4, 3, seed=1), _req(4, seed=2)
    assert ember.autograd.gradcheck(lambda x, w, b: linear(x, w, b), (x, w, b))
    for act in ("relu", "tanh", "sigmoid"):
        assert ember.autograd.gradcheck(lambda x, w, b: linear(x, w, b, activation=act), (x, w, b))
    assert ember.autograd.gradgradcheck(lambda x, w, b: linear(x, w, b), (x, w, b))
    for act in ("tanh", "sigmoid"):
        assert ember.autograd.gradgradcheck(lambda x, w, b: linear(x, w, b, activation=act), (x, w, b))
    assert ember.autograd.gradcheck(lambda c, a, b: ember.addmm(c, a, b, beta=0.5, alpha=1.5),
                                    (_req(4), _req(3, 5, seed=3), _req(5, 4, seed=4)))


@pytest.mark.parametrize("act", [None, "relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_fused_backward_matches_numpy_on_strided_input(act, bias):
    # backward without create_graph takes the one-call C++ path (_C.linear_backward)
    rng = np.random.default_rng(7)
    xn, wn, bn, gn = (rng.standard_normal(s) for s in ((3, 5, 7), (33, 5), (33,), (3, 7, 33)))
    x = ember.tensor(xn, dtype=ember.float64).transpose(1, 2).requires_grad_()  # (3, 7, 5), non-contiguous
    x.retain_grad()
    w = ember.tensor(wn, requires_grad=True, dtype=ember.float64)
    b = ember.tensor(bn, requires_grad=True, dtype=ember.float64) if bias else None
    y = linear(x, w, b, activation=act)
    y.backward(ember.tensor(gn, dtype=ember.float64))
    pre = xn.transpose(0, 2, 1) @ wn.T + (bn if bias else 0)
    derivative = {None: lambda p: 1.0, "relu": lambda p: p > 0, "tanh": lambda p: 1 - np.tanh(p) ** 2,
                  "sigmoid": lambda p: np.exp(-p) / (1 + np.exp(-p)) ** 2}[act]
    g = gn * derivative(pre)
    np.testing.assert_allclose(x.grad.numpy(), g @ wn, rtol=1e-10)
    np.testing.assert_allclose(w.grad.numpy(), g.reshape(-1, 33).T @ xn.transpose(0, 2, 1).reshape(-1, 5), rtol=1e-10)
    if bias:
        np.testing.assert_allclose(b.grad.numpy(), g.reshape(-1, 33).sum(0), rtol=1e-10)
    # only the weight needs a gradient
    x2 = ember.tensor(xn.transpose(0, 2, 1).copy(), dtype=ember.float64)
    w.grad = None
    linear(x2, w, b, activation=act).backward(ember.tensor(gn, dtype=ember.float64))
    np.testing.assert_allclose(w.grad.numpy(), g.reshape(-1, 33).T @ xn.transpose(0, 2, 1).reshape(-1, 5), rtol=1e-10)


_ACT_DERIVATIVE = {None: lambda p: 1.0, "relu": lambda p: p > 0, "tanh": lambda p: 1 - np.tanh(p) ** 2,
                   "sigmoid": lambda p: np.exp(-p) / (1 + np.exp(-p)) ** 2}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", [None, "relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("m, n, k, layout", [
    (1031, 64, 42, "rows"),         # the coordinate MLP's first layer; blocks and chunks with a ragged end
    (4096, 3, 64, "sliced"),       # its last layer; x a column slice (row stride 80)
    (8300, 1, 127, "rows"),
    (16384, 64, 1, "rows"),
    (1600, 97, 5, "transposed"),   # x (2, 800, 5) with strides (4000, 1, 800): copied to rows first
    (2053, 33, 7, "batched"),      # x (1, 2053, 7)
])
@pytest.mark.parametrize("needs", ["xwb", "x", "w", "b", "wb"])
def test_linear_backward_by_row_blocks_matches_numpy(dtype, act, m, n, k, layout, needs):
    # Many rows, few features: ops/linalg.cpp takes the row-blocked kernel
    # (cpu/kernels/linear_backward.cpp), which forms dY * act'(y) per block and multiplies it into
    # dX and per-chunk dW partials. Reference: the same gradients in float64 NumPy.
    rng = np.random.default_rng(m + n + k)
    if layout == "sliced":
        x = ember.tensor(rng.standard_normal((m, 80)), dtype=dtype)[:, 5:5 + k]
    elif layout == "transposed":
        x = ember.tensor(rng.standard_normal((2, k, m // 2)), dtype=dtype).transpose(1, 2)
    elif layout == "batched":
        x = ember.tensor(rng.standard_normal((1, m, k)), dtype=dtype)
    else:
        x = ember.tensor(rng.standard_normal((m, k)), dtype=dtype)
    w = ember.tensor(rng.standard_normal((k, n)), dtype=dtype).t()  # (n, k), transposed strides
    b = ember.tensor(rng.standard_normal(n), dtype=dtype)
    gt = ember.tensor(rng.standard_normal(tuple(x.shape[:-1]) + (n,)), dtype=dtype)
    xn, wn, bn, gn = (t.numpy().astype(np.float64) for t in (x, w, b, gt))
    x.requires_grad_("x" in needs)
    w.requires_grad_("w" in needs)
    b.requires_grad_("b" in needs)
    linear(x, w, b, activation=act).backward(gt)
    g = (gn * _ACT_DERIVATIVE[act](xn @ wn.T + bn)).reshape(-1, n)
    x2 = xn.reshape(-1, k)
    scale = 1e-4 if dtype == np.float32 else 1e-11

    def close(got, want, terms):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=scale, atol=scale * np.sqrt(terms) * np.abs(want).max())

    if "x" in needs:
        close(x.grad.numpy(), (g @ wn).reshape(xn.shape), n)
    else:
        assert x.grad is None
    if "w" in needs:
        close(w.grad.numpy(), g.T @ x2, m)
    if "b" in needs:
        close(b.grad.numpy(), g.sum(0), m)


def test_linear_backward_rejects_mismatched_gradient_dtypes():
    # _C.linear_backward reads dy and y with x's element type: a mismatch must raise, never be read
    x, w = ember.randn(2048, 64), ember.randn(64, 64)
    y = ember.randn(2048, 64)
    for dy, yy in ((ember.randn(2048, 64, dtype=ember.float64), y), (ember.randn(2048, 64), y.double())):
        with pytest.raises(TypeError, match="float64 != float32"):
            ember._C.linear_backward(dy._c, x._c, w._c, yy._c, 1, True, True, True)


def test_shape_and_dtype_errors_are_clear():
    with pytest.raises(ValueError, match=r"mat1 and mat2 shapes cannot be multiplied \(32x512 and 256x10\)"):
        ember.randn(32, 512) @ ember.randn(256, 10)
    with pytest.raises(ValueError, match=r"mat1 and mat2 shapes cannot be multiplied \(32x512 and 256x10\)"):
        ember.mm(ember.randn(32, 512), ember.randn(256, 10))
    with pytest.raises(TypeError, match="float32 != float64"):
        ember.randn(2, 2) @ ember.randn(2, 2, dtype=ember.float64)
    with pytest.raises(ValueError, match="at least 1D"):
        ember.matmul(ember.tensor(1.0), ember.randn(2))
    with pytest.raises(ValueError, match="3D"):
        ember.bmm(ember.randn(2, 2), ember.randn(2, 2))
    with pytest.raises(ValueError, match="size of tensor a"):
        ember.randn(2, 3, 4) @ ember.randn(5, 4, 2)


def test_matches_torch_when_available():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((2, 33, 17)).astype(np.float32), rng.standard_normal((17, 9)).astype(np.float32)
    np.testing.assert_allclose((ember.from_numpy(a) @ ember.from_numpy(b)).numpy(),
                               (torch.from_numpy(a) @ torch.from_numpy(b)).numpy(), rtol=1e-4, atol=1e-5)


_ISA_FLAGS = {"DEFAULT": [], "AVX2": ["-mavx2", "-mfma", "-mf16c", "-mbmi2"],
              "AVX512": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx2", "-mfma", "-mf16c", "-mbmi2"]}


@pytest.mark.skipif(shutil.which("g++") is None or not (ROOT / "csrc").is_dir(),
                    reason="needs g++ and the source tree")
def test_gemm_kernels_cpp(tmp_path):
    """tests/cpp/test_gemm.cpp on the path this process runs (EMBER_CPU_CAPABILITY included): every
    size combination, transpose, strided and padded operand, alpha/beta, bias and ReLU epilogue,
    both dtypes and thread counts, with C's padding checked untouched."""
    src = ROOT / "csrc"
    objs, procs = [], []
    for isa, flags in _ISA_FLAGS.items():  # the kernel file once per instruction set, as CMake does
        obj = tmp_path / f"gemm_kernels_{isa}.o"
        procs.append(subprocess.Popen(["g++", "-O2", "-std=c++17", f"-I{src}", f"-DCPU_CAPABILITY={isa}",
                                       f"-DCPU_CAPABILITY_{isa}=1", *flags, "-c", str(src / "cpu/kernels/gemm_kernels.cpp"),
                                       "-o", str(obj)], stderr=subprocess.PIPE, text=True))
        objs.append(str(obj))
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    exe = tmp_path / "test_gemm"
    subprocess.run(["g++", "-O2", "-std=c++17", "-pthread", f"-I{src}", str(ROOT / "tests/cpp/test_gemm.cpp"),
                    *(str(src / f) for f in ("cpu/gemm.cpp", "core/cpu_features.cpp", "core/parallel.cpp",
                                             "core/dtype.cpp", "core/workspace.cpp")), *objs, "-o", str(exe)],
                   check=True, capture_output=True, timeout=300)
    env = dict(os.environ, EMBER_CPU_CAPABILITY=ember.backends.cpu.capability())
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    assert f"instruction set path: {env['EMBER_CPU_CAPABILITY']}" in proc.stdout, proc.stdout[-2000:]
    assert " 0 failing cases" in proc.stdout, proc.stdout[-2000:]
