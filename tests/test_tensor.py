"""Tensor creation, attributes, conversions and printing behave like torch's."""
import numpy as np
import pytest

import ember


def test_creation_functions_take_dtype_device_and_requires_grad(device):
    for fn in (ember.zeros, ember.ones, ember.empty, ember.rand, ember.randn):
        t = fn(2, 3, dtype=ember.float64, device=device, requires_grad=True)
        assert t.shape == (2, 3) and t.dtype is ember.float64 and t.device.type == device and t.requires_grad
    assert ember.full((2,), 7, device=device).dtype is ember.int64
    assert ember.full((2,), 7.5).dtype is ember.float32
    assert ember.full((2,), True).dtype is ember.bool


def test_default_dtypes_follow_torch():
    assert ember.tensor([1, 2]).dtype is ember.int64
    assert ember.tensor([1.0, 2]).dtype is ember.float32
    assert ember.tensor([True]).dtype is ember.bool
    assert ember.tensor(np.zeros(2)).dtype is ember.float64  # NumPy arrays keep their dtype
    assert ember.arange(3).dtype is ember.int64
    assert ember.arange(0, 1, 0.25).dtype is ember.float32
    assert ember.zeros(1).dtype is ember.float32


def test_values_of_ranges_and_eye():
    np.testing.assert_array_equal(ember.arange(1, 10, 3).numpy(), [1, 4, 7])
    np.testing.assert_allclose(ember.arange(0, 1, 0.25).numpy(), [0, 0.25, 0.5, 0.75])
    np.testing.assert_allclose(ember.linspace(0, 1, 5).numpy(), np.linspace(0, 1, 5), rtol=1e-6)
    np.testing.assert_array_equal(ember.eye(2, 3).numpy(), np.eye(2, 3))
    np.testing.assert_allclose(ember.logspace(0, 2, 3).numpy(), [1, 10, 100], rtol=1e-6)


def test_like_functions_copy_shape_dtype_and_device(device):
    x = ember.ones(3, 1, dtype=ember.float64, device=device)
    for fn in (ember.zeros_like, ember.ones_like, ember.empty_like, ember.rand_like, ember.randn_like):
        y = fn(x)
        assert y.shape == x.shape and y.dtype is x.dtype and y.device == x.device
    assert ember.full_like(x, 3).numpy().tolist() == [[3.0]] * 3 if device == "cpu" else True


def test_attributes_and_conversions():
    x = ember.arange(12).reshape(3, 4)
    assert x.shape == ember.Size([3, 4]) and x.size() == (3, 4) and x.size(1) == 4 and x.size(-1) == 4
    assert x.dim() == 2 and x.ndim == 2 and x.numel() == 12 and x.is_contiguous()
    assert x.stride() == (4, 1) and x.element_size() == 8
    assert not x.T.is_contiguous() and x.T.contiguous().is_contiguous()
    assert x.float().dtype is ember.float32 and x.double().dtype is ember.float64
    assert x.float().long().dtype is ember.int64 and x.int().dtype is ember.int32
    assert x.to(ember.float64).dtype is ember.float64
    assert x.to("cpu") is x and x.to(ember.int64) is x
    assert x[...].tolist() == np.arange(12).reshape(3, 4).tolist() if hasattr(x, "__getitem__") else True
    assert ember.tensor(3.5).item() == 3.5 and ember.tensor([[7]]).item() == 7
    assert x.tolist() == np.arange(12).reshape(3, 4).tolist()
    assert float(ember.tensor(2.5)) == 2.5 and int(ember.tensor(3)) == 3 and bool(ember.tensor([1]))
    with pytest.raises(ValueError, match="cannot be converted to Scalar"):
        x.item()


def test_to_other_tensor_and_keyword_forms():
    x = ember.zeros(2)
    y = ember.zeros(1, dtype=ember.float64)
    assert x.to(y).dtype is ember.float64
    assert x.to(dtype=ember.float64, device="cpu").dtype is ember.float64
    assert x.to("cpu", ember.int32).dtype is ember.int32
    assert x.to(ember.float32, copy=True) is not x


def test_casts_round_trip_through_every_cpu_dtype():
    a = np.array([0, 1, 2, 250], dtype=np.int64)
    for d in (ember.uint8, ember.int32, ember.int64, ember.float32, ember.float64):
        np.testing.assert_array_equal(ember.tensor(a).to(d).numpy(), a.astype(d.to_numpy()))
    np.testing.assert_array_equal(ember.tensor(a).bool().numpy(), a.astype(bool))
    np.testing.assert_array_equal(ember.tensor([1.7, -1.7]).long().numpy(), [1, -1])  # truncation, like torch


def test_repr_looks_like_torch():
    assert repr(ember.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(ember.tensor([1.5, 2.25])) == "tensor([1.5000, 2.2500])"
    assert repr(ember.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(ember.tensor([1.0], dtype=ember.float64)) == "tensor([1.], dtype=ember.float64)"
    assert repr(ember.zeros(1, requires_grad=True)) == "tensor([0.], requires_grad=True)"
    assert repr(ember.tensor([True])) == "tensor([True])"
    assert "grad_fn=<AddBackward0>" in repr(ember.zeros(1, requires_grad=True) + 1)
    assert repr(ember.float32) == "ember.float32"
    assert repr(ember.device("cuda:1")) == "device(type='cuda', index=1)"


def test_device_parsing():
    assert ember.device("cpu").type == "cpu" and ember.device("cuda:2").index == 2
    assert ember.device("cuda", 1) == ember.device("cuda:1")
    assert ember.device("cpu") == "cpu"
    for bad in ("gpu", "cuda:x", "tpu:0"):
        with pytest.raises(ValueError, match=repr(bad).strip("'")):
            ember.device(bad)
    with pytest.raises(TypeError):
        ember.device(1.5)


@pytest.mark.skipif(ember._C.has_cuda, reason="only meaningful in a CPU-only build")
def test_cuda_tensor_in_cpu_only_build_says_so():
    with pytest.raises(ValueError, match="without CUDA"):
        ember.zeros(2, device="cuda")
    assert not ember.cuda.is_available() and ember.cuda.device_count() == 0


@pytest.mark.parametrize("bad, exc, pattern", [
    ([[1, 2], [3]], ValueError, "ragged"),
    ([1, "a"], TypeError, "str"),
    ([1, None], ValueError, "not numbers"),
    ([1 + 2j], TypeError, "complex"),
])
def test_bad_data_raises_clear_errors(bad, exc, pattern):
    with pytest.raises(exc, match=pattern):
        ember.tensor(bad)


def test_negative_sizes_and_bad_dtypes_raise():
    with pytest.raises(ValueError, match="negative dimension -2"):
        ember.zeros(3, -2)
    with pytest.raises(TypeError, match="size must be a sequence of ints.*2.5"):
        ember.ones(2.5)
    with pytest.raises(TypeError, match="unknown dtype 'floaty'"):
        ember.zeros(2, dtype="floaty")
    with pytest.raises(TypeError, match="dtype must be an ember.dtype"):
        ember.zeros(2, dtype=object())
    with pytest.raises(ValueError, match="'cdua'"):
        ember.zeros(2, device="cdua")


def test_zero_size_tensors():
    x = ember.zeros(0, 3)
    assert x.numel() == 0 and x.shape == (0, 3) and x.sum().item() == 0
    assert x.numpy().shape == (0, 3)
    assert repr(ember.zeros(0)) == "tensor([])"


def test_threads_setting_round_trips():
    n = ember.get_num_threads()
    ember.set_num_threads(1)
    assert ember.get_num_threads() == 1
    ember.set_num_threads(n)
    with pytest.raises(ValueError, match="positive"):
        ember.set_num_threads(0)
    with pytest.raises(TypeError):
        ember.set_num_threads(1.5)


def test_cpu_allocator_reuses_freed_blocks():
    ember._C.reset_peak_memory_stats(0)
    stats0 = ember._C.memory_stats(0)
    for _ in range(50):
        t = ember.empty(1000, 1000)
        del t
    stats = ember._C.memory_stats(0)
    # One 4 MB block is recycled: the peak grows by at most one block over the loop.
    assert stats["peak_bytes"] - stats0["allocated_bytes"] <= 4_000_064 + 1024 * 1024
    assert stats["allocated_bytes"] <= stats0["allocated_bytes"] + 1024 * 1024


def test_storage_is_64_byte_aligned():
    for n in (1, 3, 17, 1001):
        assert ember.empty(n).data_ptr() % 64 == 0
