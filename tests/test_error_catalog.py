"""Error-input catalog: one data-driven table of bad inputs to ember's public ops, layers, optimizers,
schedulers, checkpoints and loaders. Each case names the exception type ember raises and a regex for
the message, which must name the shapes or values involved, so a user can see what to fix.

Exception types follow ember's convention (csrc/core/check.h): ValueError for bad shapes and values,
TypeError for bad dtypes, IndexError for out-of-range indices and dims; where torch raises
RuntimeError for a shape mismatch, ember raises ValueError. The whole table also runs once in a child
process (`python tests/test_error_catalog.py --drive`), which proves that no case crashes the
interpreter and that a normal op still works after every case.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
import ember.optim as optim
from ember.optim import lr_scheduler as sched
from ember.utils import data

NAN, INF = float("nan"), float("inf")
HAS_CUDA = ember.cuda.is_available()


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    fn: Callable[[], object]
    exc: type
    match: str
    needs: Optional[str] = None  # "cuda": a GPU is present; "no_cuda_build": ember was built without CUDA

    def skip_reason(self):
        if self.needs == "cuda" and not HAS_CUDA:
            return "needs a CUDA device"
        if self.needs == "no_cuda_build" and ember._C.has_cuda:
            return "only meaningful when ember is built without CUDA"
        return None


CASES: list[Case] = []


def group(category, *entries):
    """Adds (id, exc, regex, fn[, needs]) entries under one category."""
    for entry in entries:
        id_, exc, match, fn, *needs = entry
        CASES.append(Case(f"{category}/{id_}", category, fn, exc, match, needs[0] if needs else None))


# ---- small builders -------------------------------------------------------------------------------------
def z(*shape, dtype=None):
    return ember.zeros(*shape, dtype=dtype)


def o(*shape, dtype=None):
    return ember.ones(*shape, dtype=dtype)


def idx(*values):
    return ember.tensor(list(values))


def param(*shape):
    return ember.zeros(*shape, requires_grad=True)


def full(shape, value, dtype=None):
    return ember.full(shape, value, dtype=dtype)


# ---- cases that need statements -----------------------------------------------------------------------
def _setitem_shape():
    x = z(4, 3)
    x[0] = z(4)


def _inplace_broadcast():
    x = z(3)
    x += z(2, 3)


def _inplace_promote():
    x = z(3, dtype=ember.int64)
    x += z(3)


def _backward_nonscalar():
    x = param(3)
    (x * 2).backward()


def _backward_twice():
    y = param(3).exp().sum()
    y.backward()
    y.backward()


def _inplace_leaf():
    param(3).add_(1)


def _version_counter():
    y = param(3) * 1
    out = y * y  # saves y for the backward pass
    y.add_(1)
    out.sum().backward()


def _backward_grad_shape():
    x = param(3)
    (x * 2).backward(z(4))


def _grad_unused():
    x, y = param(3), param(3)
    ember.autograd.grad((x * 2).sum(), [x, y])


def _adam_state_from_other_model():
    src, dst = nn.Linear(3, 4), nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    opt = optim.Adam(src.parameters())
    src(o(1, 3)).sum().backward()
    opt.step()
    optim.Adam(dst.parameters()).load_state_dict(opt.state_dict())


def _adam_state_wrong_shape():
    src, dst = nn.Linear(3, 4), nn.Linear(5, 4)
    opt = optim.Adam(src.parameters())
    src(o(1, 3)).sum().backward()
    opt.step()
    optim.Adam(dst.parameters()).load_state_dict(opt.state_dict())


def _sgd_state_groups_differ():
    m = nn.Linear(3, 4)
    state = optim.SGD(m.parameters(), lr=0.1).state_dict()
    optim.SGD([{"params": [m.weight]}, {"params": [m.bias]}], lr=0.1).load_state_dict(state)


def _load_state_dict(module, edit, strict=True):
    sd = module.state_dict()
    edit(sd)
    module.load_state_dict(sd, strict=strict)


def _onecycle_overstep():
    opt = optim.SGD([param(1)], lr=0.1)
    s = sched.OneCycleLR(opt, max_lr=1.0, total_steps=2)
    for _ in range(3):
        opt.step()
        s.step()


def _clip_nonfinite(bad):
    p = param(3)
    p.grad = ember.tensor([1.0, bad, 0.0])
    nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


def _iterable_dataset_shuffle():
    class Stream(data.IterableDataset):
        def __iter__(self):
            return iter([1, 2])
    data.DataLoader(Stream(), shuffle=True)


def _ragged_batch():
    class Ragged(data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return z(i + 1)
    next(iter(data.DataLoader(Ragged(), batch_size=2)))


def _load_garbage():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "bad.safetensors")
        with open(path, "wb") as f:
            f.write(b"garbage" * 10)
        ember.load(path)


def _save_object():
    with tempfile.TemporaryDirectory() as d:
        ember.save({"w": z(2), "bad": object()}, os.path.join(d, "x.safetensors"))


def _load_to_cuda():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "x.safetensors")
        ember.save({"w": z(2)}, path)
        ember.load(path, map_location="cuda")


def _cuda(*shape):
    return ember.zeros(*shape, device="cuda")


# ---- the catalog ----------------------------------------------------------------------------------------
group(
    "shape",
    ("add_broadcast", ValueError, r"tensor a \(2\).*tensor b \(4\).*\[2, 3\] and \[4, 3\]", lambda: z(2, 3) + z(4, 3)),
    ("mul_broadcast", ValueError, r"\(3\).*\(4\) at non-singleton dimension 1.*\[2, 3\] and \[2, 4\]",
     lambda: ember.mul(z(2, 3), z(2, 4))),
    ("where_broadcast", ValueError, r"\[3\] and \[4\]", lambda: ember.where(o(3, dtype=ember.bool), z(3), z(4))),
    ("lerp_broadcast", ValueError, r"\[3\] and \[4\]", lambda: ember.lerp(z(3), z(4), 0.5)),
    ("atan2_broadcast", ValueError, r"\[3\] and \[4\]", lambda: ember.atan2(z(3), z(4))),
    ("inplace_broadcast", ValueError, r"output with shape \[3\] doesn't match the broadcast shape \[2, 3\]",
     _inplace_broadcast),
    ("matmul_inner", ValueError, r"2x3 and 4x5", lambda: ember.matmul(z(2, 3), z(4, 5))),
    ("matmul_0d", ValueError, r"at least 1D.*0D and 1D", lambda: ember.matmul(ember.tensor(1.0), z(3))),
    ("mm_rank", ValueError, r"mm: expected 2-D tensors, got 3-D and 2-D", lambda: ember.mm(z(2, 3, 4), z(4, 5))),
    ("bmm_batch", ValueError, r"batch sizes differ \(2 and 3\)", lambda: ember.bmm(z(2, 3, 4), z(3, 4, 5))),
    ("bmm_rank", ValueError, r"3D tensor.*2-D and 2-D", lambda: ember.bmm(z(3, 4), z(4, 5))),
    ("mv_size", ValueError, r"3x4 and 5x1", lambda: ember.mv(z(3, 4), z(5))),
    ("dot_size", ValueError, r"tensor \[3\] and src \[4\].*3 and 4 elements", lambda: ember.dot(z(3), z(4))),
    ("addmm_bias", ValueError, r"\[2, 5\] and \[2, 4\]", lambda: ember.addmm(z(2, 5), z(2, 3), z(3, 4))),
    ("outer_rank", ValueError, r"outer: Expected 1-D argument self, but got 2-D \(shape \[2, 3\]\)",
     lambda: ember.outer(z(2, 3), z(3))),
    ("linear_in_features", ValueError, r"2x3 and 5x4", lambda: F.linear(z(2, 3), z(4, 5))),
    ("linear_bias", ValueError, r"bias of shape \[5\] does not match 4 output columns",
     lambda: F.linear(z(2, 3), z(4, 3), z(5))),
    ("Linear_forward", ValueError, r"2x5 and 3x4", lambda: nn.Linear(3, 4)(z(2, 5))),
    ("view_numel", RuntimeError, r"shape '\[4\]' is invalid for input of size 6", lambda: z(2, 3).view(4)),
    ("view_noncontiguous", RuntimeError, r"view size is not compatible.*view \[3, 2\] with strides \[1, 3\] as \[6\]",
     lambda: z(2, 3).t().view(6)),
    ("view_as_numel", RuntimeError, r"shape '\[4\]' is invalid for input of size 6", lambda: z(6).view_as(z(4))),
    ("reshape_numel", RuntimeError, r"shape '\[5, -1\]' is invalid for input of size 6",
     lambda: z(2, 3).reshape(5, -1)),
    ("reshape_two_inferred", RuntimeError, r"only one dimension can be inferred, got shape \[-1, -1\]",
     lambda: z(2, 3).reshape(-1, -1)),
    ("permute_duplicate", RuntimeError, r"duplicate dims.*\[0, 0\]", lambda: z(2, 3).permute(0, 0)),
    ("permute_length", RuntimeError, r"input\.dim\(\) = 2 is not equal to len\(dims\) = 1",
     lambda: z(2, 3).permute(0)),
    ("expand_size", RuntimeError, r"expanded size of the tensor \(4\).*existing size \(2\).*\[4, 3\].*\[2, 3\]",
     lambda: z(2, 3).expand(4, 3)),
    ("expand_fewer_dims", RuntimeError, r"number of sizes provided \(1\).*dimensions in the tensor \(2\)",
     lambda: z(2, 3).expand(3)),
    ("expand_negative", RuntimeError, r"expanded size of the tensor \(-2\)", lambda: z(1, 3).expand(2, -2)),
    ("cat_sizes", RuntimeError, r"Expected size 3 but got size 4 for tensor number 1",
     lambda: ember.cat([z(2, 3), z(2, 4)], 0)),
    ("cat_ranks", RuntimeError, r"same number of dimensions: got 2 and 1", lambda: ember.cat([z(2, 3), z(3)], 0)),
    ("cat_0d", RuntimeError, r"zero-dimensional tensor \(at position 0\)",
     lambda: ember.cat([ember.tensor(1.0), ember.tensor(2.0)])),
    ("stack_sizes", RuntimeError, r"\[2, 3\] at entry 0 and \[3, 2\] at entry 1",
     lambda: ember.stack([z(2, 3), z(3, 2)])),
    ("narrow_past_end", RuntimeError, r"start \(2\) \+ length \(2\) exceeds dimension size \(3\)",
     lambda: z(2, 3).narrow(1, 2, 2)),
    ("narrow_negative_length", RuntimeError, r"length must be non-negative, but got length=-1",
     lambda: z(4).narrow(0, 0, -1)),
    ("split_sections_sum", RuntimeError, r"sum exactly to 4.*split_sizes=\[1, 2\]", lambda: z(4).split([1, 2])),
    ("split_negative", RuntimeError, r"split_size be non-negative, but got split_size=-1", lambda: z(4).split(-1)),
    ("chunk_zero", RuntimeError, r"greater than 0, got: 0", lambda: z(4).chunk(0)),
    ("tensor_split_zero", RuntimeError, r"larger than 0, got 0", lambda: ember.tensor_split(z(3), 0)),
    ("roll_shift_dims", RuntimeError, r"shifts: 2, dims:1", lambda: z(4, 4).roll((1, 2), (0,))),
    ("repeat_fewer_dims", RuntimeError, r"repeats \[2\] for a tensor of shape \[4, 4\]", lambda: z(4, 4).repeat(2)),
    ("tril_1d", RuntimeError, r"tril: input tensor must have at least 2 dimensions, got shape \[4\]",
     lambda: ember.tril(z(4))),
    ("t_3d", RuntimeError, r"<= 2 dimensions, but self is 3D", lambda: z(2, 3, 4).t()),
    ("flatten_order", RuntimeError, r"start_dim cannot come after end_dim", lambda: z(2, 3, 4).flatten(2, 1)),
    ("unflatten_sizes", RuntimeError, r"'\[4, 2\]' is invalid for input of size 6",
     lambda: z(6).unflatten(0, (4, 2))),
    ("diagonal_same_dims", RuntimeError, r"cannot be identical 0, 0", lambda: ember.diagonal(z(3, 3), 0, 0, 0)),
    ("pad_odd_length", RuntimeError, r"divisible by 2, got pad=\[1\]", lambda: F.pad(z(4, 4), (1,))),
    ("pad_too_long", RuntimeError, r"padding length 4 and input of dimension 1", lambda: F.pad(z(4), (1, 1, 1, 1))),
    ("pad_reflect_too_big", RuntimeError, r"padding \(4, 4\).*size 4",
     lambda: F.pad(z(1, 1, 4, 4), (4,) * 4, mode="reflect")),
    ("pad_negative_too_much", RuntimeError, r"input size 4, plus negative padding -3 and -3",
     lambda: F.pad(z(4), (-3, -3))),
    ("pad_circular_wraps", RuntimeError, r"wrapping around more than once",
     lambda: F.pad(z(1, 1, 4), (5, 5), mode="circular")),
    ("copy_broadcast", ValueError, r"source of shape \[4\] cannot be broadcast to destination of shape \[3\]",
     lambda: z(3).copy_(z(4))),
    ("setitem_shape", RuntimeError, r"value tensor of shape \[4\].*indexing result of shape \[3\]", _setitem_shape),
    ("masked_fill_shape", ValueError, r"\[3, 3\] and \[2, 3\]",
     lambda: z(2, 3).masked_fill(o(3, 3, dtype=ember.bool), 1.0)),
    ("masked_fill_value_rank", RuntimeError, r"0-dimensional value tensor.*1 dimension",
     lambda: z(3).masked_fill(o(3, dtype=ember.bool), o(2))),
    ("masked_select_shape", IndexError, r"shapes \[3\], \[4\]",
     lambda: ember.masked_select(z(3), o(4, dtype=ember.bool))),
    ("item_many", ValueError, r"a Tensor with 3 elements cannot be converted to Scalar", lambda: z(3).item()),
    ("bool_ambiguous", RuntimeError, r"Tensor with 3 elements is ambiguous", lambda: bool(z(3))),
    ("len_0d", TypeError, r"len\(\) of a 0-d tensor", lambda: len(ember.tensor(1.0))),
    ("iter_0d", TypeError, r"iteration over a 0-d tensor", lambda: list(ember.tensor(1.0))),
    ("layer_norm_shape", ValueError, r"normalized_shape=\[4\].*\[\*, 4\].*\[2, 3\]", lambda: nn.LayerNorm(4)(z(2, 3))),
    ("layer_norm_weight", ValueError, r"weight with 3 elements, but got shape \[4\]",
     lambda: F.layer_norm(z(2, 3), (3,), o(4))),
    ("batch_norm_channels", ValueError, r"running_mean should contain 4 elements not 3",
     lambda: nn.BatchNorm2d(3)(z(2, 4, 5, 5))),
    ("batch_norm2d_rank", ValueError, r"expected 4D input \(got 3D input\)", lambda: nn.BatchNorm2d(3)(z(2, 3, 5))),
    ("batch_norm1d_rank", ValueError, r"expected 2D or 3D input \(got 4D input\)",
     lambda: nn.BatchNorm1d(3)(z(2, 3, 5, 5))),
    ("group_norm_channels", ValueError, r"\[2, 6, 3\] and num_groups=4", lambda: F.group_norm(z(2, 6, 3), 4)),
    ("group_norm_ctor", ValueError, r"num_channels \(4\) must be divisible by num_groups \(3\)",
     lambda: nn.GroupNorm(3, 4)),
    ("group_norm_affine", ValueError, r"\[2, 6, 3\] and \[1, 4, 1\]", lambda: nn.GroupNorm(2, 4)(z(2, 6, 3))),
    ("prelu_channels", ValueError, r"parameter numbers = 4 and channel size = 3", lambda: F.prelu(z(2, 3, 4), o(4))),
    ("softmax2d_rank", ValueError, r"3D or 4D, got 1D", lambda: nn.Softmax2d()(z(3))),
    ("mse_broadcast", ValueError, r"\[2, 3\] and \[3, 3\]", lambda: F.mse_loss(z(2, 3), z(3, 3))),
    ("l1_broadcast", ValueError, r"\[2, 3\] and \[4\]", lambda: F.l1_loss(z(2, 3), z(4))),
    ("kl_broadcast", ValueError, r"\[2, 4\] and \[2, 3\]", lambda: F.kl_div(z(2, 3), z(2, 4), reduction="batchmean")),
    ("bce_target_size", ValueError, r"target size \(\[3, 3\]\).*input size \(\[2, 3\]\)",
     lambda: F.binary_cross_entropy(full((2, 3), 0.5), full((3, 3), 0.5))),
    ("bce_logits_target_size", ValueError, r"target size \(\[2, 4\]\).*input size \(\[2, 3\]\)",
     lambda: F.binary_cross_entropy_with_logits(z(2, 3), z(2, 4))),
    ("bce_logits_pos_weight", ValueError, r"\[4\] and \[2, 3\]",
     lambda: F.binary_cross_entropy_with_logits(z(2, 3), z(2, 3), pos_weight=o(4))),
    ("cross_entropy_batch", ValueError, r"expected target shape \[2\] for input shape \[2, 3\], but got target "
     r"shape \[3\]", lambda: F.cross_entropy(z(2, 3), idx(0, 1, 2))),
    ("cross_entropy_spatial", ValueError, r"target shape \[2, 4, 4\].*\[2, 3, 4, 4\].*\[2, 4, 5\]",
     lambda: F.cross_entropy(z(2, 3, 4, 4), z(2, 4, 5, dtype=ember.int64))),
    ("cross_entropy_prob_shape", ValueError, r"target shape \[2, 4\] for input shape \[2, 3\]",
     lambda: F.cross_entropy(z(2, 3), z(2, 4))),
    ("cross_entropy_weight", ValueError, r"all 3 classes.*shape: \[4\]",
     lambda: F.cross_entropy(z(2, 3), idx(0, 1), weight=o(4))),
    ("cross_entropy_0d", ValueError, r"at least 1 dimension, got shape \[\]",
     lambda: F.cross_entropy(ember.tensor(1.0), ember.tensor(0))),
    ("nll_target_rank", ValueError, r"expected target shape \[2\].*got target shape \[2, 3\]",
     lambda: F.nll_loss(z(2, 3), z(2, 3, dtype=ember.int64))),
    ("interpolate_size_len", ValueError, r"spatial dimensions of \[4, 4\] and output size of \(2, 2, 2\)",
     lambda: F.interpolate(z(1, 1, 4, 4), size=(2, 2, 2))),
    ("interpolate_bilinear_3d", NotImplementedError, r"Got 3D input, but bilinear mode needs 4D input",
     lambda: F.interpolate(z(1, 1, 4), size=8, mode="bilinear")),
    ("vector_to_parameters", RuntimeError, r"shape '\[2\]' is invalid for input of size 1",
     lambda: nn.utils.vector_to_parameters(z(5), nn.Linear(2, 2).parameters())),
    ("tensor_ragged", ValueError, r"\[\[1, 2\], \[3\]\].*ragged", lambda: ember.tensor([[1, 2], [3]])),
)

group(
    "conv_pool",
    ("conv2d_input_rank", ValueError, r"3D \(unbatched\) or 4D \(batched\).*size: \[8, 8\]",
     lambda: F.conv2d(z(8, 8), z(4, 3, 3, 3))),
    ("conv2d_channels", ValueError, r"weight of size \[4, 3, 3, 3\], expected input\[1, 2, 8, 8\] to have 3 "
     r"channels, but got 2", lambda: F.conv2d(z(1, 2, 8, 8), z(4, 3, 3, 3))),
    ("conv2d_kernel_too_big", ValueError, r"\(2 x 2\)\. Kernel size: \(3 x 3\)",
     lambda: F.conv2d(z(1, 3, 2, 2), z(4, 3, 3, 3))),
    ("conv2d_dilated_kernel_too_big", ValueError, r"\(8 x 8\)\. Kernel size: \(9 x 9\)",
     lambda: F.conv2d(z(1, 3, 8, 8), z(4, 3, 3, 3), dilation=4)),
    ("conv2d_zero_kernel", ValueError, r"kernel size should be greater than zero.*kernel_height: 0 kernel_width: 3",
     lambda: F.conv2d(z(1, 3, 4, 4), z(2, 3, 0, 3))),
    ("conv2d_stride_zero", ValueError, r"non-positive stride.*\(0, 0\)",
     lambda: F.conv2d(z(1, 3, 8, 8), z(4, 3, 3, 3), stride=0)),
    ("conv2d_negative_padding", ValueError, r"negative padding.*\(-1, -1\)",
     lambda: F.conv2d(z(1, 3, 8, 8), z(4, 3, 3, 3), padding=-1)),
    ("conv2d_dilation_zero", ValueError, r"dilation should be greater than zero, got \(0, 0\)",
     lambda: F.conv2d(z(1, 3, 8, 8), z(4, 3, 3, 3), dilation=0)),
    ("conv2d_groups_channels", ValueError, r"groups=3, weight of size \[6, 2, 3, 3\].*to have 6 channels, but got 4",
     lambda: F.conv2d(z(1, 4, 8, 8), z(6, 2, 3, 3), groups=3)),
    ("conv2d_groups_out", ValueError, r"divisible by 2 at dimension 0.*\[5, 2, 3, 3\]",
     lambda: F.conv2d(z(1, 4, 8, 8), z(5, 2, 3, 3), groups=2)),
    ("conv2d_groups_zero", ValueError, r"non-positive groups.*got 0",
     lambda: F.conv2d(z(1, 4, 8, 8), z(4, 4, 3, 3), groups=0)),
    ("conv2d_bias", ValueError, r"4 elements, but got bias of size \[5\]",
     lambda: F.conv2d(z(1, 3, 8, 8), z(4, 3, 3, 3), z(5))),
    ("conv2d_weight_rank", ValueError, r"4-dimensional weight.*3-dimensional weight of size \[4, 3, 3\]",
     lambda: F.conv2d(z(1, 3, 8, 8), z(4, 3, 3))),
    ("conv2d_same_strided", ValueError, r"padding='same' is not supported for strided",
     lambda: F.conv2d(z(1, 3, 8, 8), z(4, 3, 3, 3), stride=2, padding="same")),
    ("conv2d_padding_string", ValueError, r"Invalid padding string 'full'",
     lambda: F.conv2d(z(1, 3, 8, 8), z(4, 3, 3, 3), padding="full")),
    ("conv2d_stride_length", ValueError, r"tuple of 2 ints, got \(1, 1, 1\)",
     lambda: F.conv2d(z(1, 3, 8, 8), z(4, 3, 3, 3), stride=(1, 1, 1))),
    ("conv1d_input_rank", ValueError, r"2D \(unbatched\) or 3D \(batched\).*\[1, 3, 8, 8\]",
     lambda: F.conv1d(z(1, 3, 8, 8), z(4, 3, 3))),
    ("conv1d_channels", ValueError, r"to have 3 channels, but got 2 channels",
     lambda: F.conv1d(z(1, 2, 8), z(4, 3, 3))),
    ("conv_transpose2d_channels", ValueError, r"transposed=1, weight of size \[3, 4, 3, 3\].*input\[1, 2, 8, 8\]",
     lambda: F.conv_transpose2d(z(1, 2, 8, 8), z(3, 4, 3, 3))),
    ("conv_transpose2d_output_padding", ValueError, r"output_padding_height: 1.*stride_height: 1",
     lambda: F.conv_transpose2d(z(1, 3, 8, 8), z(3, 4, 3, 3), output_padding=1)),
    ("Conv2d_groups_in", ValueError, r"in_channels must be divisible by groups", lambda: nn.Conv2d(4, 6, 3, groups=3)),
    ("Conv2d_groups_out", ValueError, r"out_channels must be divisible by groups",
     lambda: nn.Conv2d(4, 5, 3, groups=2)),
    ("Conv2d_padding_mode", ValueError, r"padding_mode='foo'", lambda: nn.Conv2d(4, 4, 3, padding_mode="foo")),
    ("Conv2d_same_strided", ValueError, r"padding='same' is not supported for strided",
     lambda: nn.Conv2d(3, 4, 3, stride=2, padding="same")),
    ("Conv2d_forward_channels", ValueError, r"expected input\[1, 2, 8, 8\] to have 3 channels",
     lambda: nn.Conv2d(3, 4, 3)(z(1, 2, 8, 8))),
    ("max_pool_kernel_zero", ValueError, r"kernel_size should be greater than zero, but got kH: 0 kW: 0",
     lambda: F.max_pool2d(z(1, 1, 4, 4), 0)),
    ("max_pool_stride_zero", ValueError, r"stride should be greater than zero, but got sH: 0 sW: 0",
     lambda: F.max_pool2d(z(1, 1, 4, 4), 2, stride=0)),
    ("max_pool_padding_big", ValueError, r"pad=2, kernel_size=2 and dilation=1",
     lambda: F.max_pool2d(z(1, 1, 4, 4), 2, padding=2)),
    ("max_pool_negative_padding", ValueError, r"padH: -1 padW: -1", lambda: F.max_pool2d(z(1, 1, 4, 4), 2, padding=-1)),
    ("max_pool_dilation_zero", ValueError, r"dH: 0 dW: 0", lambda: F.max_pool2d(z(1, 1, 4, 4), 2, dilation=0)),
    ("max_pool_output_empty", ValueError, r"\[1, 1, 2, 2\].*\(0x0\).*too small",
     lambda: F.max_pool2d(z(1, 1, 2, 2), 3)),
    ("max_pool_rank", ValueError, r"3D or 4D.*shape \[4, 4\]", lambda: F.max_pool2d(z(4, 4), 2)),
    ("MaxPool2d_module", ValueError, r"shape \[4, 4\]", lambda: nn.MaxPool2d(2)(z(4, 4))),
    ("avg_pool_padding_big", ValueError, r"padW = 2, padH = 2, kW = 2, kH = 2",
     lambda: F.avg_pool2d(z(1, 1, 4, 4), 2, padding=2)),
    ("avg_pool_kernel_zero", ValueError, r"kH: 0 kW: 0", lambda: F.avg_pool2d(z(1, 1, 4, 4), 0)),
    ("avg_pool_output_empty", ValueError, r"\[1, 1, 2, 2\].*\(0x0\)", lambda: F.avg_pool2d(z(1, 1, 2, 2), 3)),
    ("avg_pool_rank", ValueError, r"3D or 4D.*shape \[2\]", lambda: F.avg_pool2d(z(2), 1)),
    ("avg_pool_divisor_zero", ValueError, r"divisor must be not zero",
     lambda: F.avg_pool2d(z(1, 1, 4, 4), 2, divisor_override=0)),
    ("adaptive_avg_rank", ValueError, r"adaptive_avg_pool2d\(\): Expected 3D or 4D.*shape \[4\]",
     lambda: F.adaptive_avg_pool2d(z(4), 2)),
    ("adaptive_max_rank", ValueError, r"adaptive_max_pool2d\(\): Expected 3D or 4D.*shape \[2, 2, 2, 2, 2\]",
     lambda: F.adaptive_max_pool2d(z(2, 2, 2, 2, 2), 2)),
    ("adaptive_avg_negative", ValueError, r"non-negative, got \(-1, -1\)",
     lambda: F.adaptive_avg_pool2d(z(1, 1, 4, 4), -1)),
    ("interpolate_mode", ValueError, r"unknown mode 'foo'",
     lambda: F.interpolate(z(1, 1, 4, 4), scale_factor=2, mode="foo")),
    ("interpolate_size_and_scale", ValueError, r"only one of size or scale_factor",
     lambda: F.interpolate(z(1, 1, 4, 4), size=8, scale_factor=2)),
    ("interpolate_neither", ValueError, r"either size or scale_factor", lambda: F.interpolate(z(1, 1, 4, 4))),
    ("interpolate_negative_scale", ValueError, r"input \(2, 2\) output \(-2, -2\)",
     lambda: F.interpolate(z(1, 1, 2, 2), scale_factor=-1.0)),
)

group(
    "index",
    ("getitem_past_end", IndexError, r"index 4 is out of bounds for dimension 0 with size 4", lambda: z(4)[4]),
    ("getitem_negative", IndexError, r"index -5 is out of bounds for dimension 0 with size 4", lambda: z(4)[-5]),
    ("getitem_too_many", IndexError, r"too many indices for tensor of dimension 1", lambda: z(4)[0, 0]),
    ("getitem_tensor_index", IndexError, r"index 5 is out of bounds for dimension 0 with size 4",
     lambda: z(4)[idx(0, 5)]),
    ("getitem_list_index", IndexError, r"index 4 is out of bounds for dimension 0 with size 4", lambda: z(4)[[0, 4]]),
    ("getitem_mask_shape", IndexError, r"mask \[2\] at index 0.*indexed tensor \[4\]",
     lambda: z(4)[ember.tensor([True, False])]),
    ("getitem_index_broadcast", IndexError, r"shapes \[2\], \[3\]", lambda: z(4, 4)[idx(0, 1), idx(0, 1, 2)]),
    ("slice_negative_step", ValueError, r"step must be greater than zero", lambda: z(4)[::-1]),
    ("slice_zero_step", ValueError, r"slice step cannot be zero", lambda: z(4)[::0]),
    ("index_put_past_end", IndexError, r"index 5 is out of bounds for dimension 0 with size 4",
     lambda: z(4).index_put((idx(5),), ember.tensor(1.0))),
    ("select_past_end", IndexError, r"index 3 out of range for tensor of size \[3, 2\] at dimension 0",
     lambda: z(3, 2).select(0, 3)),
    ("gather_past_end", IndexError, r"index 3 is out of bounds for dimension 1 with size 3",
     lambda: ember.gather(z(2, 3), 1, idx([0, 3], [1, 1]))),
    ("gather_index_rank", RuntimeError, r"same number of dimensions", lambda: ember.gather(z(2, 3), 1, idx(0, 1))),
    ("gather_index_larger", RuntimeError, r"index \[3, 1\].*self \[2, 3\]",
     lambda: ember.gather(z(2, 3), 1, z(3, 1, dtype=ember.int64))),
    ("scatter_past_end", IndexError, r"index 5 is out of bounds for dimension 1 with size 3",
     lambda: z(2, 3).scatter(1, idx([0, 5]), o(1, 2))),
    ("scatter_add_negative", IndexError, r"index -1 is out of bounds for dimension 1 with size 3",
     lambda: ember.scatter_add(z(2, 3), 1, idx([-1, 0]), o(1, 2))),
    ("scatter_index_larger_than_src", RuntimeError, r"index \[2, 3\].*src \[1, 2\]",
     lambda: z(2, 3).scatter(1, z(2, 3, dtype=ember.int64), o(1, 2))),
    ("index_select_past_end", IndexError, r"index 2 is out of bounds for dimension 0 with size 2",
     lambda: ember.index_select(z(2, 3), 0, idx(2))),
    ("index_select_2d_index", IndexError, r"Index is supposed to be a vector",
     lambda: ember.index_select(z(2, 3), 0, idx([0]))),
    ("index_add_past_end", IndexError, r"index 3 is out of bounds for dimension 0 with size 3",
     lambda: ember.index_add(z(3, 2), 0, idx(3), o(1, 2))),
    ("take_past_end", IndexError, r"index 6 is out of bounds.*size 6", lambda: ember.take(z(2, 3), idx(6))),
    ("take_negative", IndexError, r"index -7 is out of bounds.*size 6", lambda: ember.take(z(2, 3), idx(-7))),
    ("one_hot_too_big", RuntimeError, r"smaller than num_classes", lambda: F.one_hot(idx(0, 3), 3)),
    ("one_hot_negative", RuntimeError, r"non-negative", lambda: F.one_hot(idx(0, -1), 3)),
    ("cross_entropy_target_past_end", IndexError, r"Target 3 is out of bounds.*3 classes, input shape \[2, 3\]",
     lambda: F.cross_entropy(z(2, 3), idx(0, 3))),
    ("cross_entropy_target_negative", IndexError, r"Target -2 is out of bounds",
     lambda: F.cross_entropy(z(2, 3), idx(0, -2))),
    ("cross_entropy_spatial_target", IndexError, r"Target 3 is out of bounds.*\[2, 3, 4\]",
     lambda: F.cross_entropy(z(2, 3, 4), full((2, 4), 3, dtype=ember.int64))),
    ("CrossEntropyLoss_target", IndexError, r"Target 5 is out of bounds.*3 classes",
     lambda: nn.CrossEntropyLoss()(z(2, 3), idx(0, 5))),
    ("nll_target_past_end", IndexError, r"Target 3 is out of bounds.*nll_loss with 3 classes",
     lambda: F.nll_loss(z(2, 3), idx(0, 3))),
    ("NLLLoss_target", IndexError, r"Target 5 is out of bounds", lambda: nn.NLLLoss()(z(2, 3), idx(0, 5))),
    ("dim_sum", IndexError, r"range of \[-2, 1\], but got 2", lambda: z(2, 3).sum(2)),
    ("dim_transpose", IndexError, r"range of \[-2, 1\], but got 2", lambda: z(2, 3).transpose(0, 2)),
    ("dim_softmax", IndexError, r"range of \[-2, 1\], but got 2", lambda: F.softmax(z(2, 3), dim=2)),
    ("dim_log_softmax", IndexError, r"range of \[-2, 1\], but got -3", lambda: F.log_softmax(z(2, 3), dim=-3)),
    ("dim_unsqueeze", IndexError, r"range of \[-3, 2\], but got 4", lambda: z(2, 3).unsqueeze(4)),
    ("dim_cumsum", IndexError, r"range of \[-1, 0\], but got 1", lambda: ember.cumsum(z(3), 1)),
    ("dim_stack", IndexError, r"range of \[-2, 1\], but got 2", lambda: ember.stack([z(2), z(2)], dim=2)),
    ("dim_flip", IndexError, r"range of \[-1, 0\], but got 1", lambda: z(4).flip(1)),
    ("dim_flip_duplicate", RuntimeError, r"dim 0 appears multiple times", lambda: z(4, 4).flip(0, 0)),
    ("dim_sum_duplicate", RuntimeError, r"dim 0 appears multiple times", lambda: z(2, 3).sum((0, 0))),
    ("dim_argmax", IndexError, r"range of \[-2, 1\], but got 2", lambda: ember.argmax(z(2, 3), 2)),
    ("dim_std", IndexError, r"range of \[-2, 1\], but got 3", lambda: z(2, 3).std(3)),
    ("dim_max", IndexError, r"range of \[-2, 1\], but got 2", lambda: z(2, 3).min(2)),
    ("dim_logsumexp", IndexError, r"range of \[-1, 0\], but got 2", lambda: ember.logsumexp(z(3), 2)),
    ("dim_movedim", IndexError, r"range of \[-2, 1\], but got 2", lambda: ember.movedim(z(2, 3), 0, 2)),
    ("dim_Flatten", IndexError, r"range of \[-2, 1\], but got 3", lambda: nn.Flatten(3)(z(2, 3))),
    ("ModuleList_past_end", IndexError, r"index 3 is out of range", lambda: nn.ModuleList([nn.ReLU()])[3]),
    ("Sequential_past_end", IndexError, r"index 3 is out of range", lambda: nn.Sequential(nn.ReLU())[3]),
    ("ModuleDict_key", KeyError, r"'b'", lambda: nn.ModuleDict({"a": nn.ReLU()})["b"]),
    ("TensorDataset_past_end", IndexError, r"index 4 is out of bounds for dimension 0 with size 4",
     lambda: data.TensorDataset(z(4, 2))[4]),
    ("Subset_past_end", IndexError, r"index 5 is out of bounds for dimension 0 with size 4",
     lambda: data.Subset(data.TensorDataset(z(4, 2)), [5])[0]),
    ("ConcatDataset_past_end", IndexError, r"index 4 is out of range for a dataset of length 4",
     lambda: data.ConcatDataset([data.TensorDataset(z(4, 2))])[4]),
    ("integer_power_negative", RuntimeError, r"negative integer powers.*exponent -1",
     lambda: ember.pow(idx(2, 3), -1)),
    ("integer_power_negative_tensor", RuntimeError, r"negative integer powers.*exponent -2",
     lambda: idx(2, 3) ** idx(1, -2)),
)

group(
    "dtype",
    ("cross_entropy_float_class_target", ValueError, r"probability targets must have the input's shape.*\[2\].*"
     r"\[2, 3\]", lambda: F.cross_entropy(z(2, 3), ember.tensor([0.0, 1.0]))),
    ("cross_entropy_int32_target", TypeError, r"dtype int64.*got int32",
     lambda: F.cross_entropy(z(2, 3), ember.tensor([0, 1], dtype=ember.int32))),
    ("cross_entropy_uint8_target", TypeError, r"dtype int64.*got uint8",
     lambda: F.cross_entropy(z(2, 3), ember.tensor([0, 1], dtype=ember.uint8))),
    ("cross_entropy_int_logits", TypeError, r"floating-point tensor, got int64",
     lambda: F.cross_entropy(z(2, 3, dtype=ember.int64), idx(0, 1))),
    ("cross_entropy_bool_logits", TypeError, r"floating-point tensor, got bool",
     lambda: F.cross_entropy(z(2, 3, dtype=ember.bool), idx(0, 1))),
    ("nll_float_target", TypeError, r"int64 class-index targets, got float32",
     lambda: F.nll_loss(z(2, 3), ember.tensor([0.0, 1.0]))),
    ("nll_bool_target", TypeError, r"got bool", lambda: F.nll_loss(z(2, 3), idx(0, 1).bool())),
    ("bce_bool_target", TypeError, r"floating-point target.*float32.*dtype bool",
     lambda: F.binary_cross_entropy(full((2, 3), 0.5), o(2, 3, dtype=ember.bool))),
    ("bce_int_target", TypeError, r"floating-point target.*dtype int64",
     lambda: F.binary_cross_entropy(full((2, 3), 0.5), o(2, 3, dtype=ember.int64))),
    ("bce_logits_bool_target", TypeError, r"floating-point target.*dtype bool",
     lambda: F.binary_cross_entropy_with_logits(z(2, 3), o(2, 3, dtype=ember.bool))),
    ("BCEWithLogitsLoss_int_target", TypeError, r"floating-point target.*dtype int64",
     lambda: nn.BCEWithLogitsLoss()(z(2, 3), o(2, 3, dtype=ember.int64))),
    ("gather_float_index", RuntimeError, r"Expected dtype int64 for index, got float32",
     lambda: ember.gather(z(2, 3), 1, ember.tensor([[0.0, 1.0]]))),
    ("scatter_float_index", RuntimeError, r"Expected dtype int64 for index, got float32",
     lambda: z(2, 3).scatter(1, ember.tensor([[0.0, 1.0]]), o(1, 2))),
    ("scatter_src_dtype", RuntimeError, r"self\.dtype to be equal to src\.dtype",
     lambda: z(2, 3).scatter(1, idx([0, 1]), o(1, 2, dtype=ember.float64))),
    ("index_select_float_index", RuntimeError, r"int32/int64 for index, got float32",
     lambda: ember.index_select(z(2, 3), 0, ember.tensor([0.0]))),
    ("index_add_source_dtype", RuntimeError, r"self \(float32\) and source \(float64\)",
     lambda: ember.index_add(z(3, 2), 0, idx(0), o(1, 2, dtype=ember.float64))),
    ("getitem_float_tensor", IndexError, r"must be long, int, byte or bool", lambda: z(4)[ember.tensor([0.0, 1.0])]),
    ("getitem_float", IndexError, r"\(got float\)", lambda: z(4)[1.5]),
    ("getitem_str", IndexError, r"\(got str\)", lambda: z(4)["a"]),
    ("one_hot_float", RuntimeError, r"index tensor of type LongTensor, got float32",
     lambda: F.one_hot(ember.tensor([0.0, 1.0]), 3)),
    ("where_float_condition", RuntimeError, r"condition to be a boolean tensor.*float32",
     lambda: ember.where(o(3), z(3), z(3))),
    ("masked_fill_float_mask", RuntimeError, r"expected BoolTensor for mask, got float32",
     lambda: z(2, 3).masked_fill(o(2, 3), 1.0)),
    ("bitwise_float", TypeError, r"integer or bool tensors, got float32", lambda: ember.bitwise_and(z(3), z(3))),
    ("sub_bools", TypeError, r"two bool tensors is not supported",
     lambda: o(2, dtype=ember.bool) - o(2, dtype=ember.bool)),
    ("neg_bool", TypeError, r"on a bool tensor is not supported", lambda: -o(2, dtype=ember.bool)),
    ("inplace_promotion", TypeError, r"result type float32 can't be cast to the desired output type int64",
     _inplace_promote),
    ("mean_int", RuntimeError, r"floating point or complex dtype\. Got: Int64", lambda: z(3, dtype=ember.int64).mean()),
    ("mean_bool", RuntimeError, r"Got: Bool", lambda: o(3, dtype=ember.bool).mean()),
    ("var_int", RuntimeError, r"std and var only support floating point", lambda: o(3, dtype=ember.int64).var()),
    ("norm_int", RuntimeError, r"Got Int64", lambda: o(3, dtype=ember.int64).norm()),
    ("matmul_int", TypeError, r"only float32 and float64 are supported, got int64",
     lambda: ember.matmul(o(2, 2, dtype=ember.int64), o(2, 2, dtype=ember.int64))),
    ("matmul_bool", TypeError, r"got bool", lambda: ember.matmul(o(2, 2, dtype=ember.bool), o(2, 2, dtype=ember.bool))),
    ("matmul_mixed", TypeError, r"float32 != float64", lambda: ember.matmul(o(2, 2), o(2, 2, dtype=ember.float64))),
    ("Linear_float64_input", TypeError, r"float64 != float32", lambda: nn.Linear(3, 4)(z(2, 3, dtype=ember.float64))),
    ("Linear_bool_input", TypeError, r"bool != float32", lambda: nn.Linear(3, 4)(z(2, 3, dtype=ember.bool))),
    ("conv2d_mixed", TypeError, r"Input type \(float\) and weight type \(double\)",
     lambda: F.conv2d(z(1, 3, 8, 8), z(4, 3, 3, 3, dtype=ember.float64))),
    ("conv2d_int", TypeError, r"float32 or float64, but got int64",
     lambda: F.conv2d(z(1, 3, 8, 8, dtype=ember.int64), z(4, 3, 3, 3, dtype=ember.int64))),
    ("max_pool_bool", TypeError, r"floating-point input, got bool",
     lambda: F.max_pool2d(o(1, 1, 4, 4, dtype=ember.bool), 2)),
    ("avg_pool_int", TypeError, r"floating-point input, got int64",
     lambda: F.avg_pool2d(o(1, 1, 4, 4, dtype=ember.int64), 2)),
    ("softmax_int", TypeError, r"floating-point tensor, got int64",
     lambda: F.softmax(z(2, 3, dtype=ember.int64), dim=1)),
    ("layer_norm_int", TypeError, r"floating-point input, got int64",
     lambda: F.layer_norm(o(2, 3, dtype=ember.int64), (3,))),
    ("batch_norm_int", TypeError, r"floating-point input, got int64",
     lambda: nn.BatchNorm1d(3)(o(2, 3, dtype=ember.int64))),
    ("interpolate_int", TypeError, r"float32 or float64, but got int64",
     lambda: F.interpolate(o(1, 1, 2, 2, dtype=ember.int64), scale_factor=2)),
    ("requires_grad_int", RuntimeError, r"floating point dtype can require gradients, got ember\.int64",
     lambda: z(3, dtype=ember.int64).requires_grad_()),
    ("requires_grad_bool", RuntimeError, r"got ember\.bool",
     lambda: ember.zeros(3, dtype=ember.bool, requires_grad=True)),
    ("Parameter_int", RuntimeError, r"got ember\.int64", lambda: nn.Parameter(z(3, dtype=ember.int64))),
    ("float16_on_cpu", TypeError, r"unsupported dtype float16", lambda: z(2, dtype=ember.float16) + 1),
    ("dtype_unknown_name", TypeError, r"unknown dtype 'float33'", lambda: z(2, dtype="float33")),
    ("dtype_not_a_dtype", TypeError, r"dtype must be an ember\.dtype, got 3", lambda: z(2, dtype=3)),
    ("from_numpy_strings", TypeError, r"numpy\.<U1", lambda: ember.from_numpy(np.array(["a"]))),
    ("from_numpy_list", TypeError, r"expected np\.ndarray \(got list\)", lambda: ember.from_numpy([1, 2])),
    ("size_float", TypeError, r"got float 2\.5", lambda: ember.ones(2.5)),
    ("numpy_requires_grad", RuntimeError, r"Can't call numpy\(\) on Tensor that requires grad",
     lambda: param(3).numpy()),
)

group(
    "device",
    ("device_bad_index", ValueError, r"Invalid device string: 'cuda:x'", lambda: ember.device("cuda:x")),
    ("device_negative_index_string", ValueError, r"Invalid device string: 'cuda:-1'", lambda: ember.device("cuda:-1")),
    ("device_negative_index", ValueError, r"non-negative integer, got -1", lambda: ember.device("cuda", -1)),
    ("device_unknown_type", ValueError, r"cpu, cuda device type.*'tpu'", lambda: ember.device("tpu")),
    ("device_cpu_index", ValueError, r"CPU device index must be 0, got 1", lambda: ember.device("cpu:1")),
    ("device_float", TypeError, r"got 3\.5", lambda: ember.device(3.5)),
    ("to_bad_string", ValueError, r"'float33'", lambda: z(2).to("float33")),
    ("to_bad_argument", TypeError, r"invalid argument 3\.5", lambda: z(2).to(3.5)),
    ("Module_to_bad_device", ValueError, r"'tpu'", lambda: nn.Linear(2, 2).to("tpu")),
    ("to_cuda_without_cuda", ValueError, r"built without CUDA support", lambda: z(3).to("cuda"), "no_cuda_build"),
    ("cuda_method_without_cuda", ValueError, r"built without CUDA support", lambda: z(3).cuda(), "no_cuda_build"),
    ("zeros_on_cuda_without_cuda", ValueError, r"built without CUDA support", lambda: ember.zeros(3, device="cuda:0"),
     "no_cuda_build"),
    ("Module_cuda_without_cuda", ValueError, r"built without CUDA support", lambda: nn.Linear(2, 2).cuda(),
     "no_cuda_build"),
    ("load_to_cuda_without_cuda", ValueError, r"built without CUDA support", _load_to_cuda, "no_cuda_build"),
    ("synchronize_without_cuda", RuntimeError, r"built without CUDA support", lambda: ember.cuda.synchronize(),
     "no_cuda_build"),
    ("add_cpu_cuda", ValueError, r"(?i)device.*(cpu.*cuda|cuda.*cpu)", lambda: z(3) + _cuda(3), "cuda"),
    ("matmul_cpu_cuda", ValueError, r"(?i)device.*(cpu.*cuda|cuda.*cpu)", lambda: ember.matmul(z(2, 2), _cuda(2, 2)),
     "cuda"),
    ("where_cpu_cuda", ValueError, r"(?i)device.*(cpu.*cuda|cuda.*cpu)",
     lambda: ember.where(_cuda(3) > 0, z(3), _cuda(3)), "cuda"),
    ("copy_between_devices_shape", ValueError, r"\[4\].*\[3\]", lambda: z(3).copy_(_cuda(4)), "cuda"),
)

group(
    "zero_size",
    ("max_of_empty", IndexError, r"reduction dim.*input shape \[0\]", lambda: z(0).max()),
    ("argmax_of_empty", IndexError, r"argmax\(\).*input shape \[0\]", lambda: z(0).argmax()),
    ("max_over_empty_dim", IndexError, r"reduction dim 1 to have non-zero size.*\[2, 0\]", lambda: z(2, 0).max(1)),
    ("amax_over_empty_dim", IndexError, r"zero-size dimension.*\[2, 0\]", lambda: z(2, 0).amax(1)),
    ("argmax_over_empty_dim", IndexError, r"zero-size dimension.*\[0, 3\]", lambda: z(0, 3).argmax(0)),
    ("reshape_ambiguous", RuntimeError, r"'\[0, -1\]' is invalid for input of size 0", lambda: z(0, 3).reshape(0, -1)),
    ("view_ambiguous", RuntimeError, r"'\[-1, 0\]' is invalid for input of size 0", lambda: z(0, 3).view(-1, 0)),
    ("split_zero_size", RuntimeError, r"split_size can only be 0 if dimension size is 0.*size of 4",
     lambda: z(4).split(0)),
    ("cat_empty_list", RuntimeError, r"non-empty list of Tensors", lambda: ember.cat([], 0)),
    ("stack_empty_list", RuntimeError, r"non-empty TensorList", lambda: ember.stack([])),
    ("one_hot_zero_classes", RuntimeError, r"smaller than num_classes", lambda: F.one_hot(idx(0), 0)),
    ("cross_entropy_zero_classes", IndexError, r"Target 0 is out of bounds.*0 classes, input shape \[2, 0\]",
     lambda: F.cross_entropy(z(2, 0), idx(0, 0))),
    ("adaptive_max_empty_plane", ValueError, r"non-zero size for non-batch dimensions.*\[1, 1, 0, 4\]",
     lambda: F.adaptive_max_pool2d(z(1, 1, 0, 4), 2)),
    ("max_pool_empty_plane", ValueError, r"\[1, 1, 0, 4\].*too small", lambda: F.max_pool2d(z(1, 1, 0, 4), 1)),
    ("interpolate_empty_plane", ValueError, r"\[1, 1, 0, 4\] has an empty spatial dimension",
     lambda: F.interpolate(z(1, 1, 0, 4), size=(2, 2))),
    ("interpolate_zero_output", ValueError, r"input \(4, 4\) output \(0, 0\)",
     lambda: F.interpolate(z(1, 1, 4, 4), size=0)),
    ("pad_replicate_empty", RuntimeError, r"zero-size dimension", lambda: F.pad(z(1, 1, 0), (1, 1), mode="replicate")),
    ("batch_norm_one_value", ValueError, r"more than 1 value per channel.*\[1, 3\]",
     lambda: nn.BatchNorm1d(3)(z(1, 3))),
    ("GroupNorm_zero_groups", ZeroDivisionError, r"modulo by zero", lambda: nn.GroupNorm(0, 4)),
    ("RandomSampler_empty", ValueError, r"num_samples=0", lambda: data.RandomSampler([])),
    ("zeros_negative", ValueError, r"negative dimension -1: \[-1\]", lambda: ember.zeros(-1)),
    ("randn_negative", ValueError, r"negative dimension -2: \[2, -2\]", lambda: ember.randn(2, -2)),
    ("full_negative", ValueError, r"negative dimension -1: \[2, -1\]", lambda: ember.full((2, -1), 1.0)),
    ("Linear_negative", ValueError, r"negative dimension -1: \[4, -1\]", lambda: nn.Linear(-1, 4)),
    ("tile_negative", RuntimeError, r"negative dimension", lambda: z(3).tile((-1,))),
    ("linspace_negative", ValueError, r"got -1", lambda: ember.linspace(0, 1, -1)),
    ("logspace_negative", ValueError, r"-2, must be non-negative", lambda: ember.logspace(0, 1, -2)),
    ("eye_negative", ValueError, r"n=-1", lambda: ember.eye(-1)),
    ("randperm_negative", ValueError, r"got -1", lambda: ember.randperm(-1)),
    ("randint_empty_range", ValueError, r"from=5 >= to=5", lambda: ember.randint(5, 5, (3,))),
    ("arange_zero_step", ValueError, r"step must be nonzero", lambda: ember.arange(0, 5, 0)),
    ("arange_wrong_sign", ValueError, r"start=0, end=5, step=-1", lambda: ember.arange(0, 5, -1)),
)

group(
    "optimizer",
    ("sgd_negative_lr", ValueError, r"Invalid learning rate: -0\.1", lambda: optim.SGD([param(3)], lr=-0.1)),
    ("sgd_negative_momentum", ValueError, r"Invalid momentum value: -1",
     lambda: optim.SGD([param(3)], lr=0.1, momentum=-1)),
    ("sgd_negative_weight_decay", ValueError, r"Invalid weight_decay value: -1",
     lambda: optim.SGD([param(3)], lr=0.1, weight_decay=-1)),
    ("sgd_nesterov_without_momentum", ValueError, r"Nesterov momentum requires a momentum and zero dampening",
     lambda: optim.SGD([param(3)], lr=0.1, nesterov=True)),
    ("sgd_empty_params", ValueError, r"empty parameter list", lambda: optim.SGD([], lr=0.1)),
    ("sgd_tensor_not_iterable", TypeError, r"iterable of Tensors or dicts, but got Tensor",
     lambda: optim.SGD(param(3), lr=0.1)),
    ("sgd_duplicate_params", ValueError, r"duplicate parameters", lambda: optim.SGD([param(3)] * 2, lr=0.1)),
    ("sgd_non_leaf", ValueError, r"can't optimize a non-leaf Tensor", lambda: optim.SGD([param(3) * 2], lr=0.1)),
    ("sgd_param_in_two_groups", ValueError, r"more than one parameter group",
     lambda: (lambda p: optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1))(param(3))),
    ("add_param_group_duplicate", ValueError, r"more than one parameter group",
     lambda: (lambda p: optim.SGD([p], lr=0.1).add_param_group({"params": [p]}))(param(3))),
    ("adam_negative_lr", ValueError, r"Invalid learning rate: -1", lambda: optim.Adam([param(3)], lr=-1)),
    ("adam_beta1_one", ValueError, r"beta parameter at index 0: 1\.0",
     lambda: optim.Adam([param(3)], betas=(1.0, 0.9))),
    ("adam_beta2_negative", ValueError, r"index 1: -0\.1", lambda: optim.Adam([param(3)], betas=(0.9, -0.1))),
    ("adam_negative_eps", ValueError, r"Invalid epsilon value: -1e-08", lambda: optim.Adam([param(3)], eps=-1e-8)),
    ("adam_negative_weight_decay", ValueError, r"weight_decay value: -1",
     lambda: optim.Adam([param(3)], weight_decay=-1)),
    ("adamw_beta2_big", ValueError, r"index 1: 1\.5", lambda: optim.AdamW([param(3)], betas=(0.9, 1.5))),
    ("adamw_negative_weight_decay", ValueError, r"weight_decay value: -0\.1",
     lambda: optim.AdamW([param(3)], weight_decay=-0.1)),
    ("rmsprop_alpha", ValueError, r"Invalid alpha value: -0\.1", lambda: optim.RMSprop([param(3)], alpha=-0.1)),
    ("rmsprop_momentum", ValueError, r"momentum value: -0\.1", lambda: optim.RMSprop([param(3)], momentum=-0.1)),
    ("rmsprop_eps", ValueError, r"epsilon value: -0\.1", lambda: optim.RMSprop([param(3)], eps=-0.1)),
    ("adagrad_lr_decay", ValueError, r"lr_decay value: -0\.1", lambda: optim.Adagrad([param(3)], lr_decay=-0.1)),
    ("adagrad_initial_accumulator", ValueError, r"initial_accumulator_value value: -0\.1",
     lambda: optim.Adagrad([param(3)], initial_accumulator_value=-0.1)),
    ("adadelta_rho", ValueError, r"Invalid rho value: 1\.5", lambda: optim.Adadelta([param(3)], rho=1.5)),
    ("rprop_etas", ValueError, r"Invalid eta values: 1\.5, 1\.2", lambda: optim.Rprop([param(3)], etas=(1.5, 1.2))),
    ("nadam_momentum_decay", ValueError, r"momentum_decay value: -1",
     lambda: optim.NAdam([param(3)], momentum_decay=-1)),
    ("state_from_other_model", ValueError, r"group 0 has 2 params in the state dict but 4 in the optimizer",
     _adam_state_from_other_model),
    ("state_wrong_shape", ValueError, r"'exp_avg' of shape \(4, 3\), but the parameter has shape \(4, 5\)",
     _adam_state_wrong_shape),
    ("state_group_count", ValueError, r"different number of parameter groups \(1 vs 2\)", _sgd_state_groups_differ),
    ("state_missing_keys", ValueError, r"keys 'state' and 'param_groups'",
     lambda: optim.Adam([param(3)]).load_state_dict({"state": {}})),
    ("scheduler_not_optimizer", TypeError, r"object is not an Optimizer", lambda: sched.StepLR(object(), 1)),
    ("linear_lr_start", ValueError, r"Starting multiplicative factor",
     lambda: sched.LinearLR(optim.SGD([param(1)], lr=0.1), start_factor=0)),
    ("linear_lr_end", ValueError, r"Ending multiplicative factor",
     lambda: sched.LinearLR(optim.SGD([param(1)], lr=0.1), end_factor=2)),
    ("one_cycle_no_total", ValueError, r"total_steps OR \(epochs AND steps_per_epoch\)",
     lambda: sched.OneCycleLR(optim.SGD([param(1)], lr=0.1), max_lr=1.0)),
    ("one_cycle_pct_start", ValueError, r"pct_start, but got 1\.5",
     lambda: sched.OneCycleLR(optim.SGD([param(1)], lr=0.1), max_lr=1.0, total_steps=10, pct_start=1.5)),
    ("one_cycle_overstep", ValueError, r"Tried to step 3 times.*total steps is 2", _onecycle_overstep),
    ("plateau_mode", ValueError, r"mode foo is unknown",
     lambda: sched.ReduceLROnPlateau(optim.SGD([param(1)], lr=0.1), mode="foo")),
    ("plateau_factor", ValueError, r"Factor should be < 1\.0",
     lambda: sched.ReduceLROnPlateau(optim.SGD([param(1)], lr=0.1), factor=1.0)),
    ("plateau_threshold_mode", ValueError, r"threshold mode foo is unknown",
     lambda: sched.ReduceLROnPlateau(optim.SGD([param(1)], lr=0.1), threshold_mode="foo")),
    ("plateau_min_lrs", ValueError, r"expected 2 min_lrs, got 1",
     lambda: sched.ReduceLROnPlateau(optim.SGD([{"params": [param(1)]}, {"params": [param(1)]}], lr=0.1),
                                     min_lr=[0.1])),
    ("lambda_lr_count", ValueError, r"Expected 1 lr_lambdas, but got 2",
     lambda: sched.LambdaLR(optim.SGD([param(1)], lr=0.1), lr_lambda=[lambda e: 1, lambda e: 1])),
    ("sequential_lr_milestones", ValueError, r"number of schedulers 2 and the number of milestones to be equal to 2",
     lambda: (lambda opt: sched.SequentialLR(opt, [sched.StepLR(opt, 1), sched.StepLR(opt, 1)], milestones=[1, 2]))(
         optim.SGD([param(1)], lr=0.1))),
    ("resume_without_initial_lr", KeyError, r"'initial_lr' is not specified in param_groups\[0\]",
     lambda: sched.StepLR(optim.SGD([param(1)], lr=0.1), 1, last_epoch=3)),
)

group(
    "state_dict",
    ("missing_key", RuntimeError, r"Missing key\(s\) in state_dict: \"bias\"",
     lambda: _load_state_dict(nn.Linear(3, 4), lambda sd: sd.pop("bias"))),
    ("unexpected_key", RuntimeError, r"Unexpected key\(s\) in state_dict: \"foo\"",
     lambda: _load_state_dict(nn.Linear(3, 4), lambda sd: sd.__setitem__("foo", z(1)))),
    ("wrong_shape", RuntimeError, r"size mismatch for weight: copying a param with shape ember\.Size\(\[4, 5\]\).*"
     r"ember\.Size\(\[4, 3\]\)",
     lambda: _load_state_dict(nn.Linear(3, 4), lambda sd: sd.__setitem__("weight", z(4, 5)))),
    ("wrong_shape_not_strict", RuntimeError, r"size mismatch for weight",
     lambda: _load_state_dict(nn.Linear(3, 4), lambda sd: sd.__setitem__("weight", z(4, 5)), strict=False)),
    ("wrong_shape_buffer", RuntimeError, r"size mismatch for running_mean.*\[4\].*\[3\]",
     lambda: _load_state_dict(nn.BatchNorm1d(3), lambda sd: sd.__setitem__("running_mean", z(4)))),
    ("wrong_shape_nested", RuntimeError, r"size mismatch for 2\.weight.*\[3, 4\].*\[2, 4\]",
     lambda: _load_state_dict(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)),
                              lambda sd: sd.__setitem__("2.weight", z(3, 4)))),
    ("not_a_tensor", RuntimeError, r"parameter named \"weight\", expected ember\.Tensor",
     lambda: _load_state_dict(nn.Linear(3, 4), lambda sd: sd.__setitem__("weight", [1, 2]))),
    ("not_a_mapping", TypeError, r"dict-like, got <class 'list'>", lambda: nn.Linear(3, 4).load_state_dict([1, 2])),
    ("module_name_with_dot", KeyError, r"module name can.{1,2}t contain \"\.\", got: a\.b",
     lambda: nn.Module().add_module("a.b", nn.ReLU())),
    ("register_tensor_as_parameter", TypeError, r"cannot assign 'ember\.float32' object to parameter 'w'",
     lambda: nn.Module().register_parameter("w", z(3))),
    ("register_int_as_buffer", TypeError, r"cannot assign 'int' object to buffer 'w'",
     lambda: nn.Module().register_buffer("w", 3)),
    ("get_missing_submodule", AttributeError, r"Sequential has no attribute `1`",
     lambda: nn.Sequential(nn.ReLU()).get_submodule("1")),
    ("load_missing_file", FileNotFoundError, r"/nonexistent/x\.safetensors",
     lambda: ember.load("/nonexistent/x.safetensors")),
    ("load_garbage", ValueError, r"header length \d+ does not fit in the file of 70 bytes", _load_garbage),
    ("save_unsupported_object", TypeError, r"cannot store an object of type object \(at bad\)", _save_object),
)

group(
    "nan_inf",
    ("bce_nan_input", ValueError, r"between 0 and 1, but got values in \[nan, nan\]",
     lambda: F.binary_cross_entropy(full((2, 3), NAN), full((2, 3), 0.5))),
    ("bce_input_above_one", ValueError, r"between 0 and 1, but got values in \[0\.5, 1\.5\]",
     lambda: F.binary_cross_entropy(ember.tensor([0.5, 1.5]), ember.tensor([0.0, 1.0]))),
    ("BCELoss_negative_input", ValueError, r"values in \[-0\.5, -0\.5\]",
     lambda: nn.BCELoss()(full((3,), -0.5), full((3,), 0.5))),
    ("bernoulli_nan", ValueError, r"probabilities in \[0, 1\], but got values in \[nan, nan\]",
     lambda: ember.bernoulli(full((3,), NAN))),
    ("bernoulli_out_of_range", ValueError, r"values in \[-0\.5, -0\.5\]", lambda: ember.bernoulli(full((3,), -0.5))),
    ("bernoulli_p_argument", ValueError, r"p=1\.5", lambda: ember.bernoulli(z(3), p=1.5)),
    ("normal_nan_std", ValueError, r"std >= 0\.0, but found std nan", lambda: ember.normal(0.0, NAN, (3,))),
    ("normal_inf_std", ValueError, r"found std inf", lambda: ember.normal(0.0, INF, (3,))),
    ("normal_tensor_std", ValueError, r"all elements of std >= 0\.0, but found std min -1\.0",
     lambda: ember.normal(z(3), full((3,), -1.0))),
    ("arange_inf", ValueError, r"unsupported range: 0 -> inf", lambda: ember.arange(0, INF)),
    ("arange_nan", ValueError, r"unsupported range: 0 -> nan", lambda: ember.arange(0, NAN)),
    ("interpolate_inf_scale", ValueError, r"scale_factor must be finite, but got inf.*\[1, 1, 2, 2\]",
     lambda: F.interpolate(z(1, 1, 2, 2), scale_factor=INF)),
    ("interpolate_nan_scale", ValueError, r"got nan", lambda: F.interpolate(z(1, 1, 2, 2), scale_factor=NAN)),
    ("clip_grad_inf", RuntimeError, r"total norm of order 2\.0.*non-finite", lambda: _clip_nonfinite(INF)),
    ("clip_grad_nan", RuntimeError, r"total norm of order 2\.0.*non-finite", lambda: _clip_nonfinite(NAN)),
    ("sgd_nan_lr", ValueError, r"Invalid learning rate: nan", lambda: optim.SGD([param(3)], lr=NAN)),
    ("adam_nan_lr", ValueError, r"Invalid learning rate: nan", lambda: optim.Adam([param(3)], lr=NAN)),
    ("adam_nan_eps", ValueError, r"Invalid epsilon value: nan", lambda: optim.Adam([param(3)], eps=NAN)),
    ("adam_nan_beta", ValueError, r"index 0: nan", lambda: optim.Adam([param(3)], betas=(NAN, 0.9))),
    ("dropout_nan_p", ValueError, r"p=nan", lambda: F.dropout(z(3), p=NAN)),
    ("dropout_p_above_one", ValueError, r"between 0 and 1, but got 1\.5", lambda: F.dropout(z(3), p=1.5)),
    ("Dropout_negative_p", ValueError, r"got -0\.1", lambda: nn.Dropout(-0.1)),
    ("dropout2d_p", ValueError, r"got 2\.0", lambda: F.dropout2d(z(1, 2, 3, 3), p=2.0)),
    ("label_smoothing_nan", ValueError, r"label_smoothing must be between 0\.0 and 1\.0\. Got: nan",
     lambda: F.cross_entropy(z(2, 3), idx(0, 1), label_smoothing=NAN)),
    ("label_smoothing_big", ValueError, r"Got: 1\.5", lambda: F.cross_entropy(z(2, 3), idx(0, 1), label_smoothing=1.5)),
    ("batch_norm_negative_eps", ValueError, r"eps must be non-negative, but got -1\.0",
     lambda: F.batch_norm(z(2, 3), z(3), o(3), eps=-1.0)),
    ("batch_norm_nan_eps", ValueError, r"but got nan", lambda: F.batch_norm(z(2, 3), z(3), o(3), eps=NAN)),
    ("init_uniform_nan", ValueError, r"from=nan, to=1\.0", lambda: nn.init.uniform_(z(3), NAN, 1.0)),
    ("init_uniform_reversed", ValueError, r"from=2\.0, to=-2\.0", lambda: nn.init.uniform_(z(3), 2.0, -2.0)),
    ("init_normal_negative_std", ValueError, r"found std -1\.0", lambda: nn.init.normal_(z(3), 0.0, -1.0)),
    ("init_trunc_normal_reversed", ValueError, r"a=2\.0, b=-2\.0", lambda: nn.init.trunc_normal_(z(3), a=2.0, b=-2.0)),
    ("int_of_nan", ValueError, r"cannot convert float NaN to integer", lambda: int(ember.tensor(NAN))),
    ("manual_seed_nan", ValueError, r"cannot convert float NaN to integer", lambda: ember.manual_seed(NAN)),
    ("smooth_l1_negative_beta", ValueError, r"negative values for beta",
     lambda: F.smooth_l1_loss(z(2), z(2), beta=-1.0)),
    ("huber_zero_delta", ValueError, r"non-positive values for delta", lambda: F.huber_loss(z(2), z(2), delta=0.0)),
)

group(
    "data",
    ("loader_batch_zero", ValueError, r"batch_size=0",
     lambda: data.DataLoader(data.TensorDataset(z(4, 2)), batch_size=0)),
    ("loader_batch_negative", ValueError, r"batch_size=-1",
     lambda: data.DataLoader(data.TensorDataset(z(4, 2)), batch_size=-1)),
    ("loader_shuffle_with_sampler", ValueError, r"sampler option is mutually exclusive with shuffle",
     lambda: data.DataLoader(data.TensorDataset(z(4, 2)), shuffle=True, sampler=data.SequentialSampler(range(4)))),
    ("loader_batch_sampler_conflict", ValueError, r"batch_sampler option is mutually exclusive",
     lambda: data.DataLoader(data.TensorDataset(z(4, 2)), batch_size=2,
                             batch_sampler=data.BatchSampler(range(4), 2, False))),
    ("loader_negative_workers", ValueError, r"num_workers option should be non-negative",
     lambda: data.DataLoader(data.TensorDataset(z(4, 2)), num_workers=-1)),
    ("loader_prefetch_without_workers", ValueError, r"prefetch_factor option could only be specified",
     lambda: data.DataLoader(data.TensorDataset(z(4, 2)), prefetch_factor=2)),
    ("loader_negative_timeout", ValueError, r"timeout option should be non-negative",
     lambda: data.DataLoader(data.TensorDataset(z(4, 2)), timeout=-1)),
    ("loader_iterable_shuffle", ValueError, r"IterableDataset.*shuffle=True", _iterable_dataset_shuffle),
    ("loader_ragged_batch", RuntimeError, r"\[1\] at entry 0 and \[2\] at entry 1", _ragged_batch),
    ("tensor_dataset_sizes", ValueError, r"sizes of dim 0 are \[4, 5\]", lambda: data.TensorDataset(z(4, 2), z(5))),
    ("random_split_sum", ValueError, r"lengths \[3, 4\] sum to 7, the dataset has 10 items",
     lambda: data.random_split(range(10), [3, 4])),
    ("random_split_negative", ValueError, r"non-negative, but got lengths=\[-1, 11\]",
     lambda: data.random_split(range(10), [-1, 11])),
    ("batch_sampler_size", ValueError, r"batch_size=0", lambda: data.BatchSampler(range(4), 0, False)),
    ("batch_sampler_drop_last", ValueError, r"drop_last=yes", lambda: data.BatchSampler(range(4), 2, "yes")),
    ("random_sampler_num_samples", ValueError, r"num_samples=0", lambda: data.RandomSampler(range(4), num_samples=0)),
    ("random_sampler_replacement", TypeError, r"replacement=1", lambda: data.RandomSampler(range(4), replacement=1)),
    ("concat_dataset_empty", ValueError, r"should not be an empty iterable", lambda: data.ConcatDataset([])),
    ("collate_sizes", RuntimeError, r"\[2\] at entry 0 and \[3\] at entry 1",
     lambda: data.default_collate([z(2), z(3)])),
    ("collate_tuple_lengths", RuntimeError, r"each element in list of batch should be of equal size",
     lambda: data.default_collate([(1, 2), (1,)])),
    ("collate_object", TypeError, r"found <class 'object'>", lambda: data.default_collate([object(), object()])),
    ("dataset_abstract", NotImplementedError, r"should implement __getitem__", lambda: data.Dataset()[0]),
)

group(
    "autograd",
    ("backward_nonscalar", RuntimeError, r"grad can be implicitly created only for scalar outputs",
     _backward_nonscalar),
    ("backward_without_grad", RuntimeError, r"does not require grad and does not have a grad_fn",
     lambda: z(3).sum().backward()),
    ("backward_twice", RuntimeError, r"backward through the graph a second time", _backward_twice),
    ("inplace_on_leaf", RuntimeError, r"leaf Variable that requires grad.*in-place", _inplace_leaf),
    ("elu_inplace_on_leaf", RuntimeError, r"leaf Variable that requires grad", lambda: F.elu(param(3), inplace=True)),
    ("saved_tensor_modified", RuntimeError, r"modified by an inplace operation: \[ember\.float32 \[3\]\].*"
     r"version 1; expected version 0", _version_counter),
    ("backward_grad_shape", RuntimeError, r"grad_output has a shape of \[4\] and output has a shape of \[3\]",
     _backward_grad_shape),
    ("grad_unused_input", RuntimeError, r"not have been used in the graph.*allow_unused=True", _grad_unused),
    ("clamp_without_bounds", ValueError, r"at least one of 'min' or 'max'", lambda: ember.clamp(z(3))),
    ("hardtanh_bounds", ValueError, r"min_val cannot be greater than max_val", lambda: F.hardtanh(z(3), 1.0, -1.0)),
    ("init_fan_1d", ValueError, r"fewer than 2 dimensions", lambda: nn.init.kaiming_uniform_(z(3))),
    ("init_mode", ValueError, r"Mode bad not supported", lambda: nn.init.kaiming_normal_(z(3, 3), mode="bad")),
    ("init_gain", ValueError, r"Unsupported nonlinearity foo", lambda: nn.init.calculate_gain("foo")),
    ("init_eye_rank", ValueError, r"Only tensors with 2 dimensions", lambda: nn.init.eye_(z(3))),
    ("init_dirac_rank", ValueError, r"3, 4, or 5 dimensions", lambda: nn.init.dirac_(z(3, 3))),
    ("reduction_name", ValueError, r"avg is not a valid value for reduction",
     lambda: F.cross_entropy(z(2, 3), idx(0, 1), reduction="avg")),
    ("MSELoss_reduction", ValueError, r"bad is not a valid value for reduction",
     lambda: nn.MSELoss(reduction="bad")(z(2), z(2))),
    ("Embedding_padding_idx", AssertionError, r"Padding_idx must be within num_embeddings",
     lambda: nn.Embedding(5, 3, padding_idx=5)),
)


def _expect(case):
    """Runs one case and returns the exception it raised, or fails when it raises nothing."""
    try:
        case.fn()
    except case.exc as e:
        return e
    raise AssertionError(f"{case.id}: expected {case.exc.__name__}, but nothing was raised")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_raises_a_clear_error(case):
    if case.skip_reason():
        pytest.skip(case.skip_reason())
    with pytest.raises(case.exc, match=case.match):
        case.fn()


REQUIRED_CATEGORIES = {"shape", "conv_pool", "index", "dtype", "device", "zero_size", "optimizer", "state_dict",
                       "nan_inf", "data", "autograd"}


def test_catalog_is_large_unique_and_covers_every_category():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    assert len(CASES) >= 150, len(CASES)
    assert {c.category for c in CASES} == REQUIRED_CATEGORIES
    for c in CASES:
        assert issubclass(c.exc, BaseException) and c.match, c.id


# ---- no crash: the whole table in one child interpreter -------------------------------------------------
def _healthy():
    """A normal op, a backward pass and the global modes still work after a failed call."""
    assert ember.is_grad_enabled() and ember.get_default_dtype() is ember.float32
    w = ember.ones(3, 2, requires_grad=True)
    y = (ember.ones(2, 3) @ w).relu().sum()
    y.backward()
    assert y.item() == 12.0 and w.grad.sum().item() == 12.0
    x = F.conv2d(ember.ones(1, 1, 3, 3), ember.ones(1, 1, 2, 2))
    assert x.shape == (1, 1, 2, 2) and x.sum().item() == 16.0


def _drive():
    """Child-process driver: every case raises (of any type) without killing the interpreter, and the
    interpreter is healthy after each; prints one line per case and a final count."""
    ran = 0
    for case in CASES:
        if case.skip_reason():
            continue
        try:
            case.fn()
            print(f"NO-RAISE {case.id}", flush=True)
        except BaseException as e:  # noqa: B036 - the point is to survive anything short of a crash
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
        _healthy()
        ran += 1
        print(f"ok {case.id}", flush=True)
    print(f"DRIVER-DONE {ran}", flush=True)


def test_no_case_crashes_the_interpreter_and_the_next_op_still_works():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONFAULTHANDLER="1")
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--drive"], capture_output=True, text=True,
                          env=env, timeout=300)
    tail = (proc.stdout[-2000:] + proc.stderr[-4000:])
    assert proc.returncode == 0, f"child exited with {proc.returncode} (a negative code is a signal):\n{tail}"
    expected = sum(1 for c in CASES if not c.skip_reason())
    assert f"DRIVER-DONE {expected}" in proc.stdout, tail
    assert "NO-RAISE" not in proc.stdout, tail


if __name__ == "__main__" and "--drive" in sys.argv:
    _drive()
