"""Checkpoints: ember.save/ember.load round trips, safetensors compatibility, atomic writes,
and validation of corrupted files (every failure a ValueError, never a crash)."""
import json
import os
import struct

import numpy as np
import pytest

import ember
import ember.io
from helpers import assert_same_structure

DTYPES = [np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_]


def _arr(dtype, shape, rng):
    if dtype is np.bool_:
        return np.asarray(rng.random(shape) > 0.5)
    return np.asarray((rng.standard_normal(shape) * 50).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 0, 4), (2, 3, 4)])
def test_tensor_round_trip_all_dtypes_and_shapes(dtype, shape, rng, tmp_path):
    t = ember.from_numpy(_arr(dtype, shape, rng))
    ember.save(t, tmp_path / "t.safetensors")
    assert_same_structure(t, ember.load(tmp_path / "t.safetensors"))


def test_nested_structures_round_trip(rng, tmp_path):
    obj = {
        "model": {"layer.weight": ember.randn(3, 4), "layer.bias": ember.zeros(3)},
        "optim": {"state": {0: {"step": 3.0, "exp_avg": ember.ones(2)}, 1: {}},
                  "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 1], "amsgrad": False,
                                    "foreach": None, "name": "head"}]},
        "epoch": 7, "big": 2 ** 70, "nan": float("nan"), "inf": float("-inf"), "empty": [], "tup": (),
        "nested": [1, (2.5, "x", [ember.arange(5)]), {None: True, 1.5: "f", True: 0}],
    }
    ember.save(obj, tmp_path / "ck.safetensors")
    back = ember.load(tmp_path / "ck.safetensors", map_location="cpu")
    assert_same_structure(obj, back)


def test_loaded_tensors_own_their_memory_and_ignore_views(tmp_path):
    base = ember.arange(12, dtype=ember.float32).reshape(3, 4)
    view = base.transpose(0, 1)
    ember.save({"v": view, "grad": ember.ones(2, requires_grad=True)}, tmp_path / "v.safetensors")
    back = ember.load(tmp_path / "v.safetensors")
    np.testing.assert_array_equal(back["v"].numpy(), view.numpy())
    assert not back["grad"].requires_grad
    back["v"].fill_(0)
    assert base.numpy().sum() == 66


def test_safetensors_numpy_reads_ember_files(rng, tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    obj = {"w": ember.from_numpy(_arr(np.float32, (4, 5), rng)), "n": {"i": ember.arange(3)},
           "b": ember.tensor([True, False]), "meta": "x"}
    ember.save(obj, tmp_path / "m.safetensors")
    tensors = st.load_file(str(tmp_path / "m.safetensors"))
    assert set(tensors) == {"w", "n.i", "b"}
    np.testing.assert_array_equal(tensors["w"], obj["w"].numpy())
    np.testing.assert_array_equal(tensors["n.i"], [0, 1, 2])
    np.testing.assert_array_equal(tensors["b"], [True, False])


def test_ember_reads_files_written_by_safetensors(rng, tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    arrays = {"a": _arr(np.float64, (3, 2), rng), "b": _arr(np.int32, (7,), rng)}
    st.save_file(arrays, str(tmp_path / "x.safetensors"))
    back = ember.load(tmp_path / "x.safetensors")
    assert set(back) == {"a", "b"}
    for k in arrays:
        np.testing.assert_array_equal(back[k].numpy(), arrays[k])


def test_header_is_8_byte_aligned_and_file_like_objects_work(tmp_path):
    import io
    buf = io.BytesIO()
    ember.save({"x": ember.ones(3)}, buf)
    data = buf.getvalue()
    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0 and data[8:9] == b"{"
    buf.seek(0)
    np.testing.assert_array_equal(ember.load(buf)["x"].numpy(), [1, 1, 1])


def test_save_rejects_unsupported_objects(tmp_path):
    with pytest.raises(TypeError, match="no pickle"):
        ember.save({"f": object()}, tmp_path / "bad.safetensors")
    assert not os.path.exists(tmp_path / "bad.safetensors")


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "ck.safetensors"
    ember.save({"x": ember.ones(3)}, path)
    old = path.read_bytes()

    real_fsync = os.fsync
    calls = []

    def failing_fsync(fd):
        calls.append(fd)
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(ember.io.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="simulated"):
        ember.save({"x": ember.zeros(1000)}, path)
    monkeypatch.setattr(ember.io.os, "fsync", real_fsync)
    assert calls
    assert path.read_bytes() == old
    assert sorted(os.listdir(tmp_path)) == ["ck.safetensors"]


def test_atomic_write_interrupted_mid_write(tmp_path, monkeypatch):
    path = tmp_path / "ck.safetensors"
    ember.save({"x": ember.ones(3)}, path)
    old = path.read_bytes()
    real = ember.io._tensor_bytes
    seen = []

    def boom(t):
        if seen:
            raise KeyboardInterrupt
        seen.append(t)
        return real(t)

    monkeypatch.setattr(ember.io, "_tensor_bytes", boom)
    with pytest.raises(KeyboardInterrupt):
        ember.save({"a": ember.ones(2), "b": ember.ones(2)}, path)
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["ck.safetensors"]

    class HalfWriter:
        """Writes the first chunk, then fails: a crash in the middle of the file."""

        def __init__(self, f):
            self.f, self.n = f, 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.n += 1
            if self.n > 1:
                raise OSError("write failed (simulated)")
            return self.f.write(data)

        def __getattr__(self, name):
            return getattr(self.f, name)

    real_fdopen = os.fdopen
    monkeypatch.setattr(ember.io, "_tensor_bytes", real)
    monkeypatch.setattr(ember.io.os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="simulated"):
        ember.save({"a": ember.ones(2)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["ck.safetensors"]


# ---- corrupted files ---------------------------------------------------------------------
def _small_file(tmp_path):
    path = tmp_path / "small.safetensors"
    ember.save({"a": ember.tensor([1.0, 2.0]), "b": ember.tensor([[1, 2, 3]]), "m": "meta"}, path)
    return path.read_bytes()


def _write_raw(tmp_path, header: dict, data: bytes, raw_header: bytes = None):
    text = raw_header if raw_header is not None else json.dumps(header).encode()
    path = tmp_path / "raw.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def test_truncation_at_every_byte_raises_value_error(tmp_path):
    data = _small_file(tmp_path)
    path = tmp_path / "cut.safetensors"
    for n in range(len(data)):
        path.write_bytes(data[:n])
        with pytest.raises(ValueError):
            ember.load(path)


def test_flipped_header_bytes_raise_value_error_or_load_cleanly(tmp_path):
    data = _small_file(tmp_path)
    (n,) = struct.unpack("<Q", data[:8])
    path = tmp_path / "flip.safetensors"
    for i in range(8 + n):
        for mask in (0x01, 0x20, 0x80):
            b = bytearray(data)
            b[i] ^= mask
            path.write_bytes(bytes(b))
            try:
                ember.load(path)
            except ValueError:
                pass


def test_out_of_range_offsets_raise(tmp_path):
    path = _write_raw(tmp_path, {"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4)
    with pytest.raises(ValueError, match=r"'x'.*\[0, 8\].*4 bytes"):
        ember.load(path)
    path = _write_raw(tmp_path, {"x": {"dtype": "F32", "shape": [0], "data_offsets": [-4, 0]}}, b"")
    with pytest.raises(ValueError, match="'x'"):
        ember.load(path)


def test_overlapping_offsets_raise(tmp_path):
    header = {"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
              "y": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}
    with pytest.raises(ValueError, match="overlap"):
        ember.load(_write_raw(tmp_path, header, b"\0" * 12))


def test_shape_vs_byte_count_mismatch_raises(tmp_path):
    header = {"x": {"dtype": "F64", "shape": [3], "data_offsets": [0, 16]}}
    with pytest.raises(ValueError, match=r"'x'.*needs 24 bytes.*span 16"):
        ember.load(_write_raw(tmp_path, header, b"\0" * 16))


def test_duplicate_keys_raise(tmp_path):
    raw = (b'{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
           b'"x":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}')
    with pytest.raises(ValueError, match="duplicate key 'x'"):
        ember.load(_write_raw(tmp_path, None, b"\0\0", raw_header=raw))


@pytest.mark.parametrize("entry,match", [
    ({"dtype": "Q8", "shape": [1], "data_offsets": [0, 1]}, "dtype"),
    ({"dtype": "U8", "shape": [-1], "data_offsets": [0, 1]}, "shape"),
    ({"dtype": "U8", "shape": [1.5], "data_offsets": [0, 1]}, "shape"),
    ({"dtype": "U8", "shape": [1], "data_offsets": [0]}, "data_offsets"),
    ({"dtype": "U8", "shape": [1]}, "fields"),
])
def test_malformed_entries_raise(tmp_path, entry, match):
    with pytest.raises(ValueError, match=match):
        ember.load(_write_raw(tmp_path, {"x": entry}, b"\0"))


def test_bad_header_length_and_json_raise(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", 10 ** 12) + b"{}")
    with pytest.raises(ValueError, match="header length"):
        ember.load(path)
    with pytest.raises(ValueError, match="JSON"):
        ember.load(_write_raw(tmp_path, None, b"", raw_header=b"{not json"))
    with pytest.raises(ValueError, match="JSON object"):
        ember.load(_write_raw(tmp_path, None, b"", raw_header=b"[1, 2]"))


def test_unresolved_metadata_placeholder_raises(tmp_path):
    header = {"__metadata__": {"ember.structure": json.dumps({"__dict__": [["w", {"__tensor__": "missing"}]]})},
              "x": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}
    with pytest.raises(ValueError, match="'missing'"):
        ember.load(_write_raw(tmp_path, header, b"\0"))
    header["__metadata__"] = {"ember.structure": "{bad"}
    with pytest.raises(ValueError, match="structure"):
        ember.load(_write_raw(tmp_path, header, b"\0"))
    header["__metadata__"] = {"ember.structure": 3}
    with pytest.raises(ValueError, match="__metadata__"):
        ember.load(_write_raw(tmp_path, header, b"\0"))
