"""Convolutions (conv1d/2d, conv_transpose1d/2d) against float64 NumPy references (forward) and
gradcheck (backward), over strides, paddings, dilations, groups, kernel and input sizes.

Run on both CPU kernel paths: EMBER_CPU_CAPABILITY=default and the native one.
"""
import itertools

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(0)


def t64(a, grad=True):
    return ember.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def close(x, ref, atol=1e-10, rtol=1e-8):
    got = x.detach().numpy() if isinstance(x, ember.Tensor) else np.asarray(x)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    np.testing.assert_allclose(got, ref, atol=atol, rtol=rtol)


# ---- float64 references ---------------------------------------------------------------------------
def ref_conv2d(x, w, b=None, stride=(1, 1), pad=(0, 0, 0, 0), dil=(1, 1), groups=1):
    """pad = (top, bottom, left, right). A sum over kernel taps of strided slices, per group."""
    N, C, H, W = x.shape
    O, Cg, kH, kW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[1]), (pad[2], pad[3])))
    oH = (H + pad[0] + pad[1] - dil[0] * (kH - 1) - 1) // stride[0] + 1
    oW = (W + pad[2] + pad[3] - dil[1] * (kW - 1) - 1) // stride[1] + 1
    Og = O // groups
    y = np.zeros((N, O, oH, oW))
    for g in range(groups):
        xs, ws = xp[:, g * Cg:(g + 1) * Cg], w[g * Og:(g + 1) * Og]
        for kh in range(kH):
            for kw in range(kW):
                h0, w0 = kh * dil[0], kw * dil[1]
                patch = xs[:, :, h0:h0 + stride[0] * (oH - 1) + 1:stride[0], w0:w0 + stride[1] * (oW - 1) + 1:stride[1]]
                y[:, g * Og:(g + 1) * Og] += np.einsum("nchw,oc->nohw", patch, ws[:, :, kh, kw])
    if b is not None:
        y += b[None, :, None, None]
    return y


def ref_conv_transpose2d(x, w, b=None, stride=(1, 1), pad=(0, 0), out_pad=(0, 0), dil=(1, 1), groups=1):
    """Scatter of every input pixel through the kernel, then the padding cropped off."""
    N, Cin, H, W = x.shape
    _, Cog, kH, kW = w.shape
    Cig = Cin // groups
    Hf = (H - 1) * stride[0] + dil[0] * (kH - 1) + 1 + out_pad[0]
    Wf = (W - 1) * stride[1] + dil[1] * (kW - 1) + 1 + out_pad[1]
    y = np.zeros((N, Cog * groups, Hf, Wf))
    for g in range(groups):
        xs, ws = x[:, g * Cig:(g + 1) * Cig], w[g * Cig:(g + 1) * Cig]
        for kh in range(kH):
            for kw in range(kW):
                contrib = np.einsum("nchw,co->nohw", xs, ws[:, :, kh, kw])
                h0, w0 = kh * dil[0], kw * dil[1]
                y[:, g * Cog:(g + 1) * Cog, h0:h0 + stride[0] * (H - 1) + 1:stride[0],
                  w0:w0 + stride[1] * (W - 1) + 1:stride[1]] += contrib
    y = y[:, :, pad[0]:Hf - pad[0], pad[1]:Wf - pad[1]]
    if b is not None:
        y = y + b[None, :, None, None]
    return y


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# ---- conv2d ---------------------------------------------------------------------------------------
# (N, C, H, W), (O, kH, kW), stride, padding, dilation, groups, bias
CASES = [
    ((2, 3, 7, 7), (4, 3, 3), 1, 0, 1, 1, True),
    ((1, 2, 5, 5), (3, 1, 1), 1, 0, 1, 1, False),     # 1x1 stride-1 fast path
    ((2, 4, 7, 5), (4, 1, 1), 2, 0, 1, 2, True),       # 1x1 stride-2 (ResNet shortcut), grouped
    ((2, 2, 13, 13), (3, 5, 5), 3, 2, 1, 1, True),
    ((1, 4, 7, 7), (4, 3, 3), 2, 1, 2, 2, True),
    ((2, 4, 5, 7), (6, 3, 2), (1, 2), (2, 1), (2, 1), 2, False),
    ((1, 3, 1, 5), (2, 1, 3), 1, (0, 1), 1, 1, True),  # height 1
    ((2, 3, 5, 5), (3, 3, 3), 1, 1, 1, 3, True),       # depthwise
    ((1, 2, 7, 7), (4, 3, 3), 2, 2, 2, 2, False),      # depthwise, multiplier 2
    ((2, 1, 7, 5), (3, 3, 1), 1, (1, 0), 1, 1, True),  # one input channel
    ((1, 2, 5, 5), (2, 5, 5), 1, 2, 1, 1, True),
]


@pytest.mark.parametrize("xs,ks,stride,padding,dilation,groups,bias", CASES)
def test_conv2d_matches_reference_and_gradcheck(xs, ks, stride, padding, dilation, groups, bias):
    x = RNG.standard_normal(xs)
    w = RNG.standard_normal((ks[0], xs[1] // groups, ks[1], ks[2]))
    b = RNG.standard_normal(ks[0]) if bias else None
    ph, pw = _pair(padding)
    ref = ref_conv2d(x, w, b, _pair(stride), (ph, ph, pw, pw), _pair(dilation), groups)
    args = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    close(F.conv2d(t64(x, False), t64(w, False), None if b is None else t64(b, False), **args), ref)
    inputs = (t64(x), t64(w)) + ((t64(b),) if bias else ())
    assert gradcheck(lambda *a: F.conv2d(a[0], a[1], a[2] if bias else None, **args), inputs)


@pytest.mark.parametrize("stride,padding,dilation,groups", list(itertools.product(
    [1, 2, 3], [0, 1, 2], [1, 2], [1, 2, 4])))
def test_conv2d_forward_grid_matches_reference(stride, padding, dilation, groups):
    x = RNG.standard_normal((2, 4, 9, 8))
    w = RNG.standard_normal((4, 4 // groups, 3, 2))
    b = RNG.standard_normal(4)
    ref = ref_conv2d(x, w, b, (stride, stride), (padding,) * 4, (dilation, dilation), groups)
    got = F.conv2d(t64(x, False), t64(w, False), t64(b, False), stride, padding, dilation, groups)
    close(got, ref)


@pytest.mark.parametrize("k,dilation", [((3, 3), 1), ((4, 2), 1), ((2, 5), 2), ((1, 4), 3)])
def test_conv2d_padding_same_pads_even_kernels_asymmetrically(k, dilation):
    x = RNG.standard_normal((2, 2, 7, 8))
    w = RNG.standard_normal((3, 2) + k)
    pads = []
    for kk in k:
        total = dilation * (kk - 1)
        pads += [total // 2, total - total // 2]
    ref = ref_conv2d(x, w, None, (1, 1), pads, (dilation, dilation))
    got = F.conv2d(t64(x, False), t64(w, False), padding="same", dilation=dilation)
    close(got, ref)
    assert got.shape[-2:] == x.shape[-2:]
    assert gradcheck(lambda a, b: F.conv2d(a, b, padding="same", dilation=dilation), (t64(x[:1]), t64(w)))
    close(F.conv2d(t64(x, False), t64(w, False), padding="valid"), ref_conv2d(x, w))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_conv2d_batched_threads_and_float32(dtype):
    # Enough images to split them between threads; float32 against the float64 reference.
    x = RNG.standard_normal((8, 6, 9, 9))
    w = RNG.standard_normal((10, 6, 3, 3))
    b = RNG.standard_normal(10)
    g = RNG.standard_normal((8, 10, 5, 5))
    ref = ref_conv2d(x, w, b, (2, 2), (1, 1, 1, 1))
    tol = dict(atol=1e-4, rtol=1e-4) if dtype == "float32" else {}
    for threads in (1, 2):
        prev = ember.get_num_threads()
        ember.set_num_threads(threads)
        try:
            xe = ember.tensor(x.astype(dtype), requires_grad=True)
            we = ember.tensor(w.astype(dtype), requires_grad=True)
            be = ember.tensor(b.astype(dtype), requires_grad=True)
            y = F.conv2d(xe, we, be, stride=2, padding=1)
            y.backward(ember.tensor(g.astype(dtype)))
        finally:
            ember.set_num_threads(prev)
        assert y.dtype == getattr(ember, dtype)
        close(y, ref, **tol)
        # Gradients: dL/dx = conv_transpose of g, dL/dw = correlation of g with x, dL/db = sum of g.
        close(xe.grad, ref_conv_transpose2d(g, w, None, (2, 2), (1, 1), (0, 0)), **tol)
        xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        dw = np.stack([np.stack([np.einsum("nohw,nchw->oc", g, xp[:, :, kh:kh + 9:2, kw:kw + 9:2])
                                 for kw in range(3)], -1) for kh in range(3)], -2)
        close(we.grad, dw, atol=1e-3 if dtype == "float32" else 1e-10, rtol=1e-4 if dtype == "float32" else 1e-8)
        close(be.grad, g.sum((0, 2, 3)), **tol)


@pytest.mark.parametrize("shape,cout,k", [((4, 16, 8, 8), 32, 3), ((2, 1, 28, 28), 8, 3), ((2, 16, 8, 8), 16, 1),
                                          ((3, 8, 6, 6), 8, 3)])
def test_conv2d_float32_matches_float64_reference_on_cnn_shapes(shape, cout, k):
    x = RNG.standard_normal(shape)
    w = RNG.standard_normal((cout, shape[1], k, k)) * 0.2
    b = RNG.standard_normal(cout)
    ref = ref_conv2d(x, w, b, (1, 1), (k // 2,) * 4)
    got = F.conv2d(ember.tensor(x.astype(np.float32)), ember.tensor(w.astype(np.float32)),
                   ember.tensor(b.astype(np.float32)), padding=k // 2)
    assert got.dtype == ember.float32
    close(got, ref, atol=1e-4, rtol=1e-4)


def ref_conv2d_all_grads(x, w, g, stride, pad, dil):
    """dL/dx and dL/dw of conv2d (square stride/padding/dilation, groups 1) for output grad g."""
    N, C, H, W = x.shape
    _, _, kH, kW = w.shape
    oH, oW = g.shape[2:]
    full = ref_conv_transpose2d(g, w, None, (stride, stride), (0, 0), (0, 0), (dil, dil))
    dxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    dxp[:, :, :full.shape[2], :full.shape[3]] = full
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dw = np.zeros(w.shape)
    for kh in range(kH):
        for kw in range(kW):
            patch = xp[:, :, kh * dil:kh * dil + stride * (oH - 1) + 1:stride,
                       kw * dil:kw * dil + stride * (oW - 1) + 1:stride]
            dw[:, :, kh, kw] = np.einsum("nohw,nchw->oc", g, patch)
    return dxp[:, :, pad:pad + H, pad:pad + W], dw


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("stride,padding,dilation", [(1, 1, 1), (2, 1, 1), (2, 0, 1), (2, 2, 2), (3, 1, 1),
                                                     (1, 2, 2)])
@pytest.mark.parametrize("width", [3, 14, 17, 33, 40, 67])
def test_conv2d_im2col_rows_of_every_length_match_reference(dtype, stride, padding, dilation, width, conv_algorithm):
    # im2col/col2im work on rows of oW outputs in vector groups of 16 floats or 8 doubles, masked at
    # the padding and at the row's end, reading or updating every stride-th input column: these
    # widths give rows of 1 to 67 outputs that start and end inside, at, and across group borders.
    conv_algorithm("im2col")
    x = RNG.standard_normal((2, 3, 5, width))
    w = RNG.standard_normal((4, 3, 3, 3))
    ref = ref_conv2d(x, w, None, (stride, stride), (padding,) * 4, (dilation, dilation))
    g = RNG.standard_normal(ref.shape)
    xe, we = (ember.tensor(a.astype(dtype), requires_grad=True) for a in (x, w))
    y = F.conv2d(xe, we, None, stride, padding, dilation)
    y.backward(ember.tensor(g.astype(dtype)))
    dx, dw = ref_conv2d_all_grads(x, w, g, stride, padding, dilation)
    tol = dict(atol=1e-5 * 30, rtol=1e-4) if dtype == "float32" else {}
    close(y, ref, **tol)
    close(xe.grad, dx, **tol)
    close(we.grad, dw, **(dict(atol=1e-5 * 30 * np.sqrt(g.size), rtol=1e-4) if dtype == "float32" else {}))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("C,k,padding,dilation", [(1, 3, 1, 1), (3, 3, 1, 1), (2, 5, 2, 1), (1, 7, 0, 1),
                                                  (1, 5, 2, 1), (2, 3, 0, 1), (3, 3, 2, 2), (1, 2, 0, 3)])
@pytest.mark.parametrize("width", [1, 12, 16, 28, 33, 70])
def test_conv2d_of_few_inputs_per_output_matches_reference(dtype, C, k, padding, dilation, width):
    # Stride 1 with C * kH * kW <= 27 takes direct loops for dw and db (cpu/kernels/conv_small_k.cpp):
    # output channels in blocks (of 4 on AVX-512: 10 = 2 x 4 + 1 + 1; of 2 elsewhere), images four
    # at a time (5 = 4 + 1), rows of 1 to 70 outputs in whole vectors and a masked last one. From 18
    # taps and 16 outputs a row the forward is direct too: blocks of output channels (8 + 1 + 1 on
    # AVX-512), rows in pairs of vectors and a single one (33 = 16 + 16 + 1, 70 = 32 + 32 + 6), a
    # row's last vector spilling into the next row or, at a plane's end, stored lane by lane.
    H = 4 + dilation * (k - 1)
    if width + 2 * padding < dilation * (k - 1) + 1:
        return
    x = RNG.standard_normal((5, C, H, width))
    w = RNG.standard_normal((10, C, k, k))
    b = RNG.standard_normal(10)
    ref = ref_conv2d(x, w, b, (1, 1), (padding,) * 4, (dilation, dilation))
    g = RNG.standard_normal(ref.shape)
    xe = ember.tensor(x.astype(dtype))
    we, be = (ember.tensor(a.astype(dtype), requires_grad=True) for a in (w, b))
    y = F.conv2d(xe, we, be, 1, padding, dilation)
    y.backward(ember.tensor(g.astype(dtype)))
    _, dw = ref_conv2d_all_grads(x, w, g, 1, padding, dilation)
    tol = dict(atol=1e-4 * np.sqrt(g.size), rtol=1e-4) if dtype == "float32" else dict(atol=1e-10, rtol=1e-10)
    close(y, ref, **(dict(atol=1e-5 * C * k * k, rtol=1e-4) if dtype == "float32" else {}))
    close(we.grad, dw, **tol)
    close(be.grad, g.sum((0, 2, 3)), **tol)


def test_conv2d_weight_gradient_of_few_inputs_per_output_on_a_large_input():
    # A padded copy of x over 4 MB is the call's own buffer rather than the thread's kept one.
    x = RNG.standard_normal((4, 3, 256, 200))
    w = RNG.standard_normal((2, 3, 3, 3))
    ref = ref_conv2d(x, w, None, (1, 1), (1,) * 4)
    g = RNG.standard_normal(ref.shape)
    we = ember.tensor(w, requires_grad=True)
    F.conv2d(ember.tensor(x), we, None, 1, 1).backward(ember.tensor(g))
    close(we.grad, ref_conv2d_all_grads(x, w, g, 1, 1, 1)[1], atol=1e-9, rtol=1e-9)


def test_conv2d_noncontiguous_inputs():
    x = RNG.standard_normal((2, 3, 6, 5))
    w = RNG.standard_normal((4, 3, 2, 3))
    xt = t64(x.transpose(0, 1, 3, 2).copy()).transpose(2, 3)      # a transposed view
    wt = t64(w.transpose(1, 0, 2, 3).copy()).transpose(0, 1)
    assert not xt.is_contiguous() and not wt.is_contiguous()
    close(F.conv2d(xt, wt, padding=1), ref_conv2d(x, w, None, (1, 1), (1, 1, 1, 1)))
    assert gradcheck(lambda a, b: F.conv2d(a, b, stride=2, padding=1), (xt, wt))


def test_conv2d_unbatched_input():
    x = RNG.standard_normal((3, 5, 5))
    w = RNG.standard_normal((2, 3, 3, 3))
    y = F.conv2d(t64(x, False), t64(w, False), padding=1)
    close(y, ref_conv2d(x[None], w, None, (1, 1), (1, 1, 1, 1))[0])
    assert gradcheck(lambda a, b: F.conv2d(a, b, stride=2), (t64(x), t64(w)))


def test_conv2d_matches_cpp_reference_kernel():
    x = RNG.standard_normal((3, 4, 9, 7))
    w = RNG.standard_normal((6, 2, 3, 3))
    b = RNG.standard_normal(6)
    p = (2, 1, 1, 2, 0, 1, 1, 2, 2)
    got = ember.Tensor._wrap(ember._C.conv2d(t64(x, False)._c, t64(w, False)._c, t64(b, False)._c, p))
    ref = ember.Tensor._wrap(ember._C.conv2d_reference(t64(x, False)._c, t64(w, False)._c, t64(b, False)._c, p))
    close(got, ref.numpy())
    close(ref, ref_conv2d(x, w, b, (2, 1), (1, 2, 0, 1), (1, 2), 2))


def test_conv2d_second_derivatives():
    x, w, b = t64(RNG.standard_normal((1, 2, 5, 4))), t64(RNG.standard_normal((2, 1, 3, 2))), t64(RNG.standard_normal(2))
    assert gradgradcheck(lambda a, c, d: F.conv2d(a, c, d, stride=(2, 1), padding=1, dilation=(1, 2), groups=2),
                         (x, w, b))
    assert gradgradcheck(lambda a, c: F.conv_transpose2d(a, c, stride=2, padding=1, output_padding=1), (x, w))


def test_conv2d_empty_batch():
    y = F.conv2d(ember.zeros(0, 3, 5, 5, requires_grad=True), ember.ones(2, 3, 3, 3, requires_grad=True))
    assert tuple(y.shape) == (0, 2, 3, 3)


@pytest.mark.parametrize("kwargs,xs,ws,exc,msg", [
    (dict(stride=0), (1, 2, 5, 5), (2, 2, 3, 3), ValueError, "non-positive stride"),
    (dict(dilation=(1, 0)), (1, 2, 5, 5), (2, 2, 3, 3), ValueError, "dilation should be greater than zero"),
    (dict(padding=-1), (1, 2, 5, 5), (2, 2, 3, 3), ValueError, "negative padding"),
    (dict(groups=0), (1, 2, 5, 5), (2, 2, 3, 3), ValueError, "non-positive groups"),
    (dict(groups=2), (1, 4, 5, 5), (3, 2, 3, 3), ValueError, "expected weight to be divisible by 2"),
    (dict(), (1, 32, 64, 64), (64, 16, 3, 3), ValueError,
     r"Given groups=1, weight of size \[64, 16, 3, 3\], expected input\[1, 32, 64, 64\] to have 16 channels, "
     r"but got 32 channels instead"),
    (dict(), (1, 2, 2, 2), (4, 2, 3, 3), ValueError,
     r"Calculated padded input size per channel: \(2 x 2\). Kernel size: \(3 x 3\). Kernel size can't be greater "
     r"than actual input size"),
    (dict(), (3, 5, 5), (2, 2, 3, 3), ValueError, r"expected input\[1, 3, 5, 5\] to have 2 channels"),
    (dict(), (2, 2), (2, 2, 3, 3), ValueError, r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d"),
    (dict(), (1, 2, 5, 5), (2, 2, 3), ValueError, "Expected 4-dimensional weight"),
    (dict(padding="same", stride=2), (1, 2, 5, 5), (2, 2, 3, 3), ValueError, "not supported for strided"),
    (dict(padding="full"), (1, 2, 5, 5), (2, 2, 3, 3), ValueError, "Invalid padding string"),
])
def test_conv2d_errors_name_shapes_and_values(kwargs, xs, ws, exc, msg):
    with pytest.raises(exc, match=msg):
        F.conv2d(ember.zeros(*xs), ember.zeros(*ws), **kwargs)


def test_conv2d_dtype_errors():
    with pytest.raises(TypeError, match="weight type"):
        F.conv2d(ember.zeros(1, 2, 5, 5), ember.zeros(2, 2, 3, 3, dtype=ember.float64))
    with pytest.raises(TypeError, match="bias type"):
        F.conv2d(ember.zeros(1, 2, 5, 5), ember.zeros(2, 2, 3, 3), ember.zeros(2, dtype=ember.float64))
    with pytest.raises(TypeError, match="float32 or float64"):
        F.conv2d(ember.zeros(1, 2, 5, 5, dtype=ember.int64), ember.zeros(2, 2, 3, 3, dtype=ember.int64))
    with pytest.raises(ValueError, match="expected bias to be 1-dimensional with 2 elements"):
        F.conv2d(ember.zeros(1, 2, 5, 5), ember.zeros(2, 2, 3, 3), ember.zeros(3))
    with pytest.raises(TypeError, match="must be Tensor"):
        F.conv2d([[1.0]], ember.zeros(2, 2, 3, 3))


# ---- conv1d ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("L,k,stride,padding,dilation,groups", [(7, 3, 1, 1, 1, 1), (13, 5, 2, 2, 1, 2),
                                                                (5, 2, 1, "same", 2, 1), (9, 3, 3, 0, 2, 4)])
def test_conv1d_matches_reference(L, k, stride, padding, dilation, groups):
    x = RNG.standard_normal((2, 4, L))
    w = RNG.standard_normal((4, 4 // groups, k))
    b = RNG.standard_normal(4)
    if padding == "same":
        total = dilation * (k - 1)
        pads = (0, 0, total // 2, total - total // 2)
    else:
        pads = (0, 0, padding, padding)
    ref = ref_conv2d(x[:, :, None], w[:, :, None], b, (1, stride), pads, (1, dilation), groups)[:, :, 0]
    args = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    close(F.conv1d(t64(x, False), t64(w, False), t64(b, False), **args), ref)
    assert gradcheck(lambda a, c, d: F.conv1d(a, c, d, **args), (t64(x[:1]), t64(w), t64(b)))
    close(F.conv1d(t64(x[0], False), t64(w, False), t64(b, False), **args), ref[0])  # unbatched


def test_conv1d_errors():
    with pytest.raises(ValueError, match=r"Expected 2D \(unbatched\) or 3D \(batched\) input to conv1d"):
        F.conv1d(ember.zeros(1, 2, 3, 4), ember.zeros(2, 2, 3))


# ---- conv_transpose2d -----------------------------------------------------------------------------
# (N, C_in, H, W), (C_out/groups, kH, kW), stride, padding, output_padding, dilation, groups, bias
TCASES = [
    ((2, 3, 4, 4), (2, 3, 3), 1, 0, 0, 1, 1, True),
    ((1, 4, 3, 5), (3, 3, 2), 2, 1, 1, 1, 2, True),
    ((2, 2, 5, 3), (2, 2, 3), (3, 2), (1, 0), (2, 1), (1, 2), 1, False),
    ((1, 4, 3, 3), (1, 3, 3), 2, 1, 0, 2, 4, True),      # depthwise
    ((1, 2, 4, 4), (3, 1, 1), 1, 0, 0, 1, 1, True),      # 1x1
    ((1, 2, 3, 3), (2, 3, 3), 1, 1, 1, 2, 1, True),      # output_padding >= stride, < dilation
    ((1, 3, 3, 4), (8, 3, 3), 1, 1, 1, 2, 1, False),     # the same on the wide stride-1 path
    ((1, 3, 4, 3), (8, 3, 3), 1, 1, 0, 1, 1, True),
]


@pytest.mark.parametrize("xs,ks,stride,padding,out_pad,dilation,groups,bias", TCASES)
def test_conv_transpose2d_matches_reference_and_gradcheck(xs, ks, stride, padding, out_pad, dilation, groups, bias):
    x = RNG.standard_normal(xs)
    w = RNG.standard_normal((xs[1], ks[0], ks[1], ks[2]))
    b = RNG.standard_normal(ks[0] * groups) if bias else None
    ref = ref_conv_transpose2d(x, w, b, _pair(stride), _pair(padding), _pair(out_pad), _pair(dilation), groups)
    args = dict(stride=stride, padding=padding, output_padding=out_pad, dilation=dilation, groups=groups)
    close(F.conv_transpose2d(t64(x, False), t64(w, False), None if b is None else t64(b, False), **args), ref)
    inputs = (t64(x), t64(w)) + ((t64(b),) if bias else ())
    assert gradcheck(lambda *a: F.conv_transpose2d(a[0], a[1], a[2] if bias else None, **args), inputs)


def test_conv_transpose1d_matches_reference():
    x = RNG.standard_normal((2, 4, 6))
    w = RNG.standard_normal((4, 3, 3))
    b = RNG.standard_normal(6)
    ref = ref_conv_transpose2d(x[:, :, None], w[:, :, None], b, (1, 2), (0, 1), (0, 1), (1, 1), 2)[:, :, 0]
    args = dict(stride=2, padding=1, output_padding=1, groups=2)
    close(F.conv_transpose1d(t64(x, False), t64(w, False), t64(b, False), **args), ref)
    assert gradcheck(lambda a, c: F.conv_transpose1d(a, c, **args), (t64(x[:1]), t64(w)))


def test_conv_transpose2d_is_the_input_gradient_of_conv2d():
    x = t64(RNG.standard_normal((2, 3, 7, 7)))
    w = t64(RNG.standard_normal((4, 3, 3, 3)), False)
    y = F.conv2d(x, w, stride=2, padding=1)
    g = ember.tensor(RNG.standard_normal(tuple(y.shape)))
    y.backward(g)
    close(F.conv_transpose2d(g, w, stride=2, padding=1), x.grad.numpy())


def test_conv_transpose2d_errors():
    with pytest.raises(ValueError, match="output padding must be smaller than either stride or dilation"):
        F.conv_transpose2d(ember.zeros(1, 2, 3, 3), ember.zeros(2, 2, 3, 3), output_padding=1)
    with pytest.raises(ValueError, match=r"Given transposed=1, weight of size \[2, 2, 3, 3\], expected input"
                                         r"\[1, 3, 3, 3\] to have 2 channels, but got 3 channels instead"):
        F.conv_transpose2d(ember.zeros(1, 3, 3, 3), ember.zeros(2, 2, 3, 3))
    with pytest.raises(ValueError, match="non-positive stride"):
        F.conv_transpose2d(ember.zeros(1, 2, 3, 3), ember.zeros(2, 2, 3, 3), stride=0)
    with pytest.raises(ValueError, match="Output size is too small"):
        F.conv_transpose2d(ember.zeros(1, 2, 1, 1), ember.zeros(2, 2, 1, 1), padding=1)


# ---- modules --------------------------------------------------------------------------------------
def test_conv_modules_use_the_functional_ops():
    ember.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, stride=2, padding=1, dtype=ember.float64)
    x = RNG.standard_normal((2, 3, 8, 8))
    close(conv(t64(x, False)), ref_conv2d(x, conv.weight.detach().numpy(), conv.bias.detach().numpy(), (2, 2),
                                          (1, 1, 1, 1)))
    convt = nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, dtype=ember.float64)
    y = convt(conv(t64(x, False)), output_size=(8, 8))
    assert tuple(y.shape) == (2, 3, 8, 8)
    c1 = nn.Conv1d(3, 2, 3, padding="same")
    assert tuple(c1(ember.zeros(1, 3, 5)).shape) == (1, 2, 5)
    y = nn.Conv2d(2, 2, 3, padding=1, padding_mode="zeros")(ember.ones(1, 2, 4, 4))
    y.sum().backward()


@pytest.mark.parametrize("k,padding,dilation,groups", [((3, 3), 1, 1, 1), ((4, 2), "same", 1, 1),
                                                       ((3, 3), (2, 1), 2, 2), ((3, 2), 0, 1, 1)])
def test_conv2d_wide_stride1_path_forward_and_gradients(k, padding, dilation, groups):
    # 8+ input channels per group of a 3x3 take the padded "wide" im2col layout (cpu/conv.cpp).
    x = RNG.standard_normal((1, 8 * groups, 5, 6))
    w = RNG.standard_normal((4, 8, k[0], k[1]))
    b = RNG.standard_normal(4)
    if padding == "same":
        pads = []
        for kk in k:
            pads += [(kk - 1) // 2, (kk - 1) - (kk - 1) // 2]
    else:
        ph, pw = _pair(padding)
        pads = (ph, ph, pw, pw)
    args = dict(padding=padding, dilation=dilation, groups=groups)
    ref = ref_conv2d(x, w, b, (1, 1), pads, (dilation, dilation), groups)
    close(F.conv2d(t64(x, False), t64(w, False), t64(b, False), **args), ref)
    assert gradcheck(lambda a, c, d: F.conv2d(a, c, d, **args), (t64(x), t64(w), t64(b)))


# ---- Winograd F(2x2, 3x3) and F(4x4, 3x3): float32 3x3 stride-1 convolutions (cpu/kernels/winograd*.cpp)
@pytest.fixture
def conv_algorithm():
    """Sets ember.backends.cpu's conv algorithm for one test and restores 'auto' after it."""
    from ember.backends import cpu
    yield cpu.set_conv_algorithm
    cpu.set_conv_algorithm("auto")


def ref_conv2d_grads(x, w, g, pad):
    """dL/dx, dL/dw, dL/db of a stride-1 conv2d with symmetric padding (ph, pw) for output grad g."""
    ph, pw = pad
    kH, kW = w.shape[2:]
    dx = ref_conv_transpose2d(g, w, None, (1, 1), (ph, pw), (0, 0))[:, :, :x.shape[2], :x.shape[3]]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oH, oW = g.shape[2:]
    dw = np.stack([np.stack([np.einsum("nohw,nchw->oc", g, xp[:, :, kh:kh + oH, kw:kw + oW])
                             for kw in range(kW)], -1) for kh in range(kH)], -2)
    return dx, dw, g.sum((0, 2, 3))


# (N, C, H, W), O, padding, groups: odd and tiny images (tiles cut by the border, runs of one
# tile, blocks across images), both paddings Winograd's input gradient takes, groups.
WINO_CASES = [
    ((2, 16, 9, 7), 8, 1, 1), ((3, 8, 5, 5), 16, 0, 1), ((1, 16, 1, 1), 8, 1, 1), ((2, 16, 6, 6), 16, 2, 2),
    ((1, 8, 33, 13), 8, 1, 1), ((3, 13, 17, 19), 11, 1, 1), ((2, 64, 8, 8), 64, 1, 1), ((5, 9, 3, 40), 10, 2, 1),
    ((7, 32, 14, 14), 64, 1, 1), ((1, 24, 97, 3), 9, (1, 0), 3),
]


@pytest.mark.parametrize("algo", ["winograd", "winograd4x4"])
@pytest.mark.parametrize("xs,cout,padding,groups", WINO_CASES)
def test_conv2d_winograd_matches_float64_reference_forward_and_gradients(xs, cout, padding, groups, algo,
                                                                         conv_algorithm):
    conv_algorithm(algo)
    x = RNG.standard_normal(xs)
    w = RNG.standard_normal((cout, xs[1] // groups, 3, 3))
    b = RNG.standard_normal(cout)
    ph, pw = _pair(padding)
    ref = ref_conv2d(x, w, b, (1, 1), (ph, ph, pw, pw), (1, 1), groups)
    g = RNG.standard_normal(ref.shape)
    xe, we, be = (ember.tensor(a.astype(np.float32), requires_grad=True) for a in (x, w, b))
    y = F.conv2d(xe, we, be, padding=padding, groups=groups)
    y.backward(ember.tensor(g.astype(np.float32)))
    scale = lambda r: dict(atol=2e-5 * np.abs(r).max(), rtol=1e-4)  # noqa: E731 (float32 sums of ~C*9 terms)
    close(y, ref, **scale(ref))
    if groups == 1:
        dx, dw, db = ref_conv2d_grads(x, w, g, (ph, pw))
    else:  # per group, on the group's channels
        parts = [ref_conv2d_grads(x[:, i * (xs[1] // groups):(i + 1) * (xs[1] // groups)],
                                  w[i * (cout // groups):(i + 1) * (cout // groups)],
                                  g[:, i * (cout // groups):(i + 1) * (cout // groups)], (ph, pw)) for i in range(groups)]
        dx, dw, db = (np.concatenate([p[k] for p in parts], 1 if k == 0 else 0) for k in range(3))
    close(xe.grad, dx, **scale(dx))
    close(we.grad, dw, **scale(dw))
    close(be.grad, db, **scale(db))


@pytest.mark.parametrize("threads", [1, 2])
def test_conv2d_winograd_agrees_with_im2col_on_resnet_shapes_and_threads(threads, conv_algorithm):
    # The default choice ('auto') takes Winograd for these; it must agree with im2col + GEMM.
    x = ember.randn(6, 16, 12, 12, requires_grad=True)
    w = ember.randn(32, 16, 3, 3, requires_grad=True)
    grads = {}
    prev = ember.get_num_threads()
    ember.set_num_threads(threads)
    try:
        for algo in ("im2col", "auto"):
            conv_algorithm(algo)
            y = F.conv2d(x, w, padding=1)
            gx, gw = ember.autograd.grad((y * y).sum(), (x, w))
            grads[algo] = [t.detach().numpy().astype(np.float64) for t in (y, gx, gw)]
    finally:
        ember.set_num_threads(prev)
    for a, b in zip(grads["auto"], grads["im2col"]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max())


@pytest.mark.parametrize("channels", [64, 256])
def test_conv2d_winograd4x4_rounding_stays_within_its_documented_bound(channels, conv_algorithm):
    # F(4x4, 3x3)'s transforms multiply by up to 8 and 1/24: float32 rounding reaches about 1e-5 of
    # the largest output with a few hundred input channels (F(2x2, 3x3) and im2col: under 1e-6),
    # in all three passes.
    conv_algorithm("winograd4x4")
    x = RNG.standard_normal((2, channels, 16, 16))
    w = RNG.standard_normal((16, channels, 3, 3))
    g = RNG.standard_normal((2, 16, 16, 16))
    xe, we = (ember.tensor(a.astype(np.float32), requires_grad=True) for a in (x, w))
    y = F.conv2d(xe, we, padding=1)
    y.backward(ember.tensor(g.astype(np.float32)))
    dx, dw = ref_conv2d_all_grads(x, w, g, 1, 1, 1)
    for got, ref in ((y, ref_conv2d(x, w, None, (1, 1), (1, 1, 1, 1))), (xe.grad, dx), (we.grad, dw)):
        err = np.abs(got.detach().numpy() - ref)
        assert err.max() <= 3e-5 * np.abs(ref).max() and np.sqrt((err ** 2).mean()) <= 1e-5 * np.sqrt((ref ** 2).mean())


def test_conv_transpose2d_stride1_takes_winograd_and_matches_reference(conv_algorithm):
    conv_algorithm("winograd")
    x = RNG.standard_normal((2, 16, 7, 9))
    w = RNG.standard_normal((16, 8, 3, 3))
    b = RNG.standard_normal(8)
    ref = ref_conv_transpose2d(x, w, b, (1, 1), (1, 1))
    got = F.conv_transpose2d(ember.tensor(x.astype(np.float32)), ember.tensor(w.astype(np.float32)),
                             ember.tensor(b.astype(np.float32)), padding=1)
    close(got, ref, atol=2e-5 * np.abs(ref).max(), rtol=1e-4)


def test_set_conv_algorithm_names_the_choices(conv_algorithm):
    from ember.backends import cpu
    with pytest.raises(ValueError, match="'fft'"):
        cpu.set_conv_algorithm("fft")
    conv_algorithm("im2col")
    assert cpu.conv_algorithm() == "im2col"
