"""Checkpoints that survive kills and corruption: a writer SIGKILLed 200 times mid-save never leaves a
partial file, and every kind of damaged file (cut at any byte, any header bit flipped, bad offsets,
shapes, duplicate keys, holes) fails with a ValueError that names the problem.

tests/test_io.py covers the round trips and one example of each corruption; this file is exhaustive.
"""
import hashlib
import io
import json
import os
import random
import signal
import struct
import time
import warnings

import numpy as np
import pytest

import ember
from helpers import assert_same_structure


# ---- SIGKILL during save ----------------------------------------------------------------------
def _checkpoint(seed):
    """A training checkpoint of about 0.5 MB: model, optimizer state and plain metadata."""
    g = np.random.default_rng(seed)
    return {"model": {"w": ember.from_numpy(g.standard_normal((256, 512)).astype(np.float32)),
                      "b": ember.from_numpy(g.standard_normal(512).astype(np.float32))},
            "optim": {"state": {0: {"step": ember.tensor(float(seed))}}, "lr": 0.1 * seed},
            "epoch": seed}


def _fork_writer(path, objs, save):
    """Forks a child that saves objs[0], objs[1], objs[0], ... to `path` until it is killed, and
    returns once the child is about to start its first save. A fork (not a new interpreter) starts
    in milliseconds, which keeps 200 kills fast; the child only serialises and writes, so no lock
    another thread of this process holds can block it. Waiting for the child's word makes the kill
    times count from its first save, not from the fork, whose cost varies (a large or sanitized
    process takes longer to fork than a save takes): timed from the fork, most kills could land
    before any save began and the test would prove nothing."""
    ready_r, ready_w = os.pipe()
    with warnings.catch_warnings():  # Python >= 3.12 warns about fork() in a threaded process
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            os.write(ready_w, b"1")
            os.close(ready_w)
            while True:
                for obj in objs:
                    save(obj, path)
        finally:
            os._exit(1)  # never return into pytest in the child
    os.close(ready_w)
    try:
        os.read(ready_r, 1)
    finally:
        os.close(ready_r)
    return pid


def _kill_repeatedly(tmp_path, save, kills, seed):
    """Kills a writer `kills` times at random moments and inspects the checkpoint after each kill.
    Returns (bad, outcomes, interrupted): the kills after which the path held neither checkpoint
    intact, how often it held each, and how many kills landed inside a save (a temporary file was
    left behind)."""
    old, new = _checkpoint(1), _checkpoint(2)
    digests = {}
    for name, obj in (("old", old), ("new", new)):
        ember.save(obj, tmp_path / f"{name}.safetensors")
        digests[hashlib.sha256((tmp_path / f"{name}.safetensors").read_bytes()).hexdigest()] = (name, obj)

    work = tmp_path / "run"
    work.mkdir()
    path = work / "ckpt.safetensors"
    ember.save(old, path)
    start = time.perf_counter()
    ember.save(old, work / "timing.safetensors")
    save_time = time.perf_counter() - start
    os.unlink(work / "timing.safetensors")

    rng = random.Random(seed)
    bad, outcomes, interrupted = [], {"old": 0, "new": 0}, 0
    for k in range(kills):
        current = digests[hashlib.sha256(path.read_bytes()).hexdigest()][0]
        objs = (new, old) if current == "old" else (old, new)  # the first save replaces the other one
        pid = _fork_writer(path, objs, save)
        time.sleep(rng.uniform(0.0, 3.0 * save_time))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, \
            f"kill {k}: the writer was not running when killed (status {status:#x})"

        leftovers = [p for p in work.iterdir() if p.name != path.name]
        interrupted += bool(leftovers)
        for p in leftovers:  # the killed save's temporary file: the path itself must be whole
            assert p.name.startswith("." + path.name) and p.name.endswith(".tmp"), p.name
            p.unlink()
        data = path.read_bytes() if path.exists() else b""
        hit = digests.get(hashlib.sha256(data).hexdigest())
        if hit is None:
            bad.append((k, len(data)))
            ember.save(old, path)  # restart from a known state
            continue
        outcomes[hit[0]] += 1
        assert_same_structure(hit[1], ember.load(path))
    return bad, outcomes, interrupted


def test_200_sigkills_during_save_leave_the_old_or_the_new_checkpoint_intact(tmp_path):
    kills = 200
    bad, outcomes, interrupted = _kill_repeatedly(tmp_path, ember.save, kills, seed=0)
    assert not bad, f"partial checkpoints after kills (kill, bytes): {bad}"
    assert outcomes["old"] > 0 and outcomes["new"] > 0, outcomes
    # The kills must really hit saves in progress, or this test proves nothing.
    assert interrupted >= kills // 5, f"only {interrupted} of {kills} kills landed inside a save"


def test_the_kill_harness_catches_a_writer_that_is_not_atomic(tmp_path):
    def save_in_place(obj, path):
        with open(path, "wb") as f:  # truncates first: a kill leaves a partial file
            ember.save(obj, f)

    bad, _, _ = _kill_repeatedly(tmp_path, save_in_place, kills=40, seed=1)
    assert bad, "40 kills of an in-place writer never left a partial file: the harness is blind"


# ---- damaged files ----------------------------------------------------------------------------
def _small_checkpoint(with_empty=True):
    """A small file with every stored dtype, a zero-size tensor and nested metadata."""
    obj = {"w": ember.tensor([[1.5, -2.0], [0.25, 4.0]]), "d": ember.tensor([1.0, 2.0], dtype=ember.float64),
           "i": ember.tensor([3, -4]), "i32": ember.tensor([7], dtype=ember.int32),
           "u": ember.tensor([255, 0], dtype=ember.uint8), "m": ember.tensor([True, False]),
           "e": ember.zeros(0, 3), "meta": {"epoch": 3, "name": "run"}}
    if not with_empty:
        del obj["e"]
    buf = io.BytesIO()
    ember.save(obj, buf)
    return obj, buf.getvalue()


def _load_error(data: bytes) -> str:
    """Loads `data` from a file-like object and returns the ValueError's message."""
    with pytest.raises(ValueError) as info:
        ember.load(io.BytesIO(data))
    msg = str(info.value)
    assert msg.startswith("ember.load: "), msg
    return msg


def test_truncation_at_every_byte_names_the_part_that_is_cut(tmp_path):
    _, data = _small_checkpoint()
    (n,) = struct.unpack("<Q", data[:8])
    path = tmp_path / "cut.safetensors"
    for size in range(len(data)):
        msg = _load_error(data[:size])
        if size < 8:
            assert "too short for the 8-byte header length" in msg, (size, msg)
        elif size < 8 + n:
            assert f"header length {n} does not fit in the file of {size} bytes" in msg, (size, msg)
        else:
            assert f"outside the data section of {size - 8 - n} bytes" in msg, (size, msg)
        if size % 7 == 0:  # the path reader too, on a sample
            path.write_bytes(data[:size])
            with pytest.raises(ValueError, match="^ember.load: "):
                ember.load(path)


def _metadata_interior(header: bytes):
    """The byte range of the inside of the __metadata__ object in ember's compact header."""
    key = b'"__metadata__":{'
    begin = header.index(key) + len(key)
    depth, i, in_string = 1, begin, False
    while depth:
        c = header[i:i + 1]
        if in_string:
            if c == b"\\":
                i += 1
            elif c == b'"':
                in_string = False
        elif c == b'"':
            in_string = True
        elif c in b"{}":
            depth += 1 if c == b"{" else -1
        i += 1
    return begin, i - 1


def test_every_single_bit_flip_in_the_tensor_table_raises(tmp_path):
    """Every bit of the length field, the tensor entries, the JSON syntax and the padding is checked:
    flipping any one of them raises. Inside __metadata__ (free text the format cannot check) a flip
    may load, but must never raise anything other than ValueError. The file has no zero-element
    tensor: its shape can change consistently ([0, 3] -> [0, 2] still holds 0 bytes), which no
    reader can detect."""
    obj, data = _small_checkpoint(with_empty=False)
    (n,) = struct.unpack("<Q", data[:8])
    free_begin, free_end = _metadata_interior(data[8:8 + n])
    loaded_in_metadata = 0
    for i in range(8 + n):
        in_metadata = free_begin <= i - 8 < free_end
        for bit in range(8):
            b = bytearray(data)
            b[i] ^= 1 << bit
            try:
                ember.load(io.BytesIO(bytes(b)))
            except ValueError as e:
                assert str(e).startswith("ember.load: "), str(e)
                continue
            assert in_metadata, f"flipping bit {bit} of byte {i} ({chr(data[i])!r}) loaded without error"
            loaded_in_metadata += 1
    assert loaded_in_metadata > 0  # e.g. a letter of the stored string "run" changed: undetectable


def _raw(header, data: bytes = b"", raw_header: bytes = None) -> bytes:
    text = raw_header if raw_header is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def _f32(begin, end, shape=None):
    return {"dtype": "F32", "shape": shape if shape is not None else [(end - begin) // 4],
            "data_offsets": [begin, end]}


def _reference_rejects(data: bytes) -> bool:
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    try:
        safetensors_numpy.load(data)
    except Exception:
        return True
    return False


OVERLAPS = {
    "partial": {"x": _f32(0, 8), "y": _f32(4, 12)},
    "identical": {"x": _f32(0, 8), "y": _f32(0, 8)},
    "nested": {"x": _f32(0, 16), "y": _f32(4, 8), "z": _f32(16, 16)},
    "empty inside another": {"x": _f32(0, 8), "y": _f32(4, 4, shape=[0])},
}


@pytest.mark.parametrize("case", list(OVERLAPS))
def test_overlapping_tensors_raise(case):
    header = OVERLAPS[case]
    end = max(v["data_offsets"][1] for v in header.values())
    data = _raw(header, b"\0" * end)
    assert "overlap" in _load_error(data)
    assert _reference_rejects(data)


OUT_OF_RANGE = {
    "end past the data": ({"x": _f32(0, 8)}, 4),
    "begin past the data": ({"x": _f32(12, 12, shape=[0])}, 8),
    "begin after end": ({"x": {"dtype": "U8", "shape": [0], "data_offsets": [4, 2]}}, 4),
    "negative begin": ({"x": {"dtype": "U8", "shape": [2], "data_offsets": [-2, 0]}}, 4),
    "beyond 64 bits": ({"x": {"dtype": "U8", "shape": [1], "data_offsets": [2 ** 64, 2 ** 64 + 1]}}, 4),
}


@pytest.mark.parametrize("case", list(OUT_OF_RANGE))
def test_out_of_range_offsets_raise(case):
    header, nbytes = OUT_OF_RANGE[case]
    data = _raw(header, b"\0" * nbytes)
    assert f"outside the data section of {nbytes} bytes" in _load_error(data)
    assert _reference_rejects(data)


@pytest.mark.parametrize("offsets", [[0.0, 4.0], [True, 4], ["0", "4"], [0, 4, 8], None])
def test_offsets_that_are_not_two_ints_raise(offsets):
    data = _raw({"x": {"dtype": "F32", "shape": [1], "data_offsets": offsets}}, b"\0" * 4)
    assert "invalid data_offsets" in _load_error(data)


@pytest.mark.parametrize("header,nbytes", [
    ({"x": _f32(0, 4), "y": _f32(8, 12)}, 12),  # a hole between two tensors
    ({"x": _f32(4, 8)}, 8),                       # a hole before the first
    ({"x": _f32(0, 4)}, 8),                       # trailing bytes after the last
    ({}, 4),                                      # data but no tensors
], ids=["between", "before", "trailing", "no tensors"])
def test_holes_and_trailing_bytes_raise_as_in_the_reference_reader(header, nbytes):
    # The spec: the data "needs to be entirely indexed, and cannot contain holes" (no polyglots).
    data = _raw(header, b"\0" * nbytes)
    msg = _load_error(data)
    assert "holes" in msg or "trailing bytes" in msg, msg
    assert _reference_rejects(data)


@pytest.mark.parametrize("dtype,itemsize", [("F64", 8), ("F32", 4), ("F16", 2), ("I64", 8), ("I32", 4),
                                            ("U8", 1), ("BOOL", 1)])
@pytest.mark.parametrize("shape", [[3], [2, 2], [0, 5], [2 ** 62, 2 ** 62]], ids=str)
def test_shape_that_disagrees_with_the_byte_count_raises(dtype, itemsize, shape):
    # Declares exactly 2 elements' worth of bytes, which none of these shapes holds.
    span = 2 * itemsize
    data = _raw({"x": {"dtype": dtype, "shape": shape, "data_offsets": [0, span]}}, b"\0" * span)
    needs = int(np.prod(shape, dtype=object)) * itemsize
    assert f"needs {needs} bytes but data_offsets [0, {span}] span {span}" in _load_error(data)
    assert _reference_rejects(data)


_U8 = b'{"dtype":"U8","shape":[1],"data_offsets":[0,1]}'


@pytest.mark.parametrize("raw,key", [
    (b'{"x":' + _U8 + b',"x":' + _U8 + b'}', "x"),
    (b'{"x":{"dtype":"U8","dtype":"F16","shape":[1],"data_offsets":[0,1]}}', "dtype"),
    (b'{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"shape":[1]}}', "shape"),
    (b'{"__metadata__":{"a":"1"},"__metadata__":{"a":"2"},"x":' + _U8 + b'}', "__metadata__"),
    (b'{"__metadata__":{"format":"pt","format":"np"},"x":' + _U8 + b'}', "format"),
], ids=["tensor name", "dtype field", "shape field", "metadata", "metadata entry"])
def test_duplicate_keys_anywhere_in_the_header_raise(raw, key):
    # Each header is valid once the duplicate is dropped (see the control below); JSON readers that
    # keep the last value would load a different file than a reader that keeps the first.
    assert f"duplicate key {key!r}" in _load_error(_raw(None, b"\0", raw_header=raw))


def test_duplicate_keys_in_the_stored_structure_raise():
    structure = '{"__dict__":[["w",{"__tensor__":"x"}]],"__dict__":[]}'
    header = {"__metadata__": {"ember.structure": structure}, "x": {"dtype": "U8", "shape": [1],
                                                                      "data_offsets": [0, 1]}}
    msg = _load_error(_raw(header, b"\0"))
    assert "stored structure" in msg and "duplicate key '__dict__'" in msg, msg


def test_every_damaged_file_above_was_a_valid_file_before_the_damage():
    """Control: the undamaged versions of the files these tests corrupt load fine."""
    obj, data = _small_checkpoint()
    assert_same_structure(obj, ember.load(io.BytesIO(data)))
    good = _raw({"x": _f32(0, 8), "y": _f32(8, 12), "z": _f32(12, 12, shape=[0, 2])}, b"\0" * 12)
    assert _reference_rejects(good) is False
    assert sorted(ember.load(io.BytesIO(good))) == ["x", "y", "z"]
    assert list(ember.load(io.BytesIO(_raw(None, b"\0", raw_header=b'{"x":' + _U8 + b'}')))) == ["x"]
