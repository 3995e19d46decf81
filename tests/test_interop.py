"""NumPy and DLPack interop share memory both ways (checked by writing through one side)."""
import gc

import numpy as np
import pytest

import ember


def test_from_numpy_shares_memory_both_ways():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = ember.from_numpy(a)
    a[0, 0] = 42
    assert t[0, 0].item() == 42 if hasattr(ember.Tensor, "__getitem__") else t.tolist()[0][0] == 42
    t.fill_(7)
    assert (a == 7).all()


def test_from_numpy_keeps_the_array_alive():
    t = ember.from_numpy(np.arange(1000, dtype=np.float64))
    gc.collect()
    assert t.sum().item() == sum(range(1000))


@pytest.mark.parametrize("npdtype", [np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_])
def test_from_numpy_every_supported_dtype(npdtype):
    a = (np.arange(5) % 2).astype(npdtype)
    t = ember.from_numpy(a)
    assert t.dtype.to_numpy() == a.dtype
    np.testing.assert_array_equal(t.numpy(), a)


def test_from_numpy_strided_and_negative_strides():
    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    for view in (a[:, ::2], a.T, a[::-1], a[::-2, ::-3]):
        t = ember.from_numpy(view)
        np.testing.assert_array_equal(t.numpy(), view)
        np.testing.assert_array_equal(t.contiguous().numpy(), view)
        assert t.stride() == tuple(s // 4 for s in view.strides)


def test_numpy_is_a_view_with_strides():
    t = ember.arange(12, dtype=ember.float32).reshape(3, 4)
    v = t.T.numpy()
    assert v.strides == (4, 16)
    v[1, 0] = -1
    assert t.tolist()[0][1] == -1
    assert np.asarray(t).base is not None
    expected = np.arange(12.0).reshape(3, 4)
    expected[0, 1] = -1
    np.testing.assert_array_equal(np.asarray(t, dtype=np.float64), expected)


def test_numpy_array_outlives_tensor():
    v = ember.arange(5).numpy()
    gc.collect()
    np.testing.assert_array_equal(v, np.arange(5))


def test_numpy_refuses_tensors_that_require_grad():
    with pytest.raises(RuntimeError, match="detach"):
        ember.zeros(2, requires_grad=True).numpy()


def test_unsupported_numpy_dtypes_and_byte_orders_say_what_to_do():
    with pytest.raises(TypeError, match="astype"):
        ember.from_numpy(np.zeros(3, dtype=np.float16))
    with pytest.raises(TypeError, match="byte order"):
        ember.from_numpy(np.zeros(3, dtype=">f4"))
    with pytest.raises(TypeError, match="complex"):
        ember.from_numpy(np.zeros(3, dtype=np.complex64))
    # tensor() copies, so it may convert the byte order itself.
    np.testing.assert_array_equal(ember.tensor(np.arange(3, dtype=">i8")).numpy(), [0, 1, 2])


def test_dlpack_round_trip_with_numpy_is_zero_copy():
    t = ember.arange(6, dtype=ember.float32).reshape(2, 3)
    a = np.from_dlpack(t)
    a[1, 2] = 100
    assert t.tolist()[1][2] == 100
    b = np.arange(8, dtype=np.int64)[::2]
    u = ember.from_dlpack(b)
    b[1] = -5
    assert u.tolist()[1] == -5 and u.stride() == (2,)
    assert t.__dlpack_device__() == (1, 0)


def test_dlpack_capsule_can_be_consumed_once():
    cap = ember.ones(3).__dlpack__()
    ember.from_dlpack(cap)
    with pytest.raises(ValueError, match="unconsumed"):
        ember.from_dlpack(cap)


def test_dlpack_round_trip_with_torch_is_zero_copy():
    torch = pytest.importorskip("torch")
    x = torch.arange(6, dtype=torch.float32).reshape(2, 3).t()
    e = ember.from_dlpack(x)
    x[0, 1] = 99
    assert e.tolist()[0][1] == 99 and e.stride() == (1, 3)
    back = torch.from_dlpack(e)
    back[2, 0] = -7
    assert x[2, 0].item() == -7
