"""Checkpoints without pickle: ember.save / ember.load in the safetensors format.

File layout (https://huggingface.co/docs/safetensors): 8-byte little-endian header length N,
N bytes of JSON (padded with spaces to a multiple of 8), then the tensors' bytes back to back.
The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
relative to the data section) and holds "__metadata__", a str -> str map. ember stores the
nested Python structure of the saved object (dicts, lists, tuples, numbers, strings, bools,
None, tensors) in __metadata__["ember.structure"] as JSON, tensors replaced by placeholders
{"__tensor__": name}. Any safetensors reader can read the tensors; ember.load rebuilds the
structure. Loading validates every field before touching the data and raises ValueError.
"""
from __future__ import annotations

import json
import math
import os
import struct
import tempfile

import numpy as np

from . import _dtype as dt
from .tensor import Tensor

__all__ = ["save", "load"]

_STRUCTURE_KEY = "ember.structure"
_FORMAT_KEY = "format"
_MAX_HEADER = 100 * 1024 * 1024  # the reference implementation's limit

# safetensors dtype names <-> ember dtypes that have a NumPy layout on the CPU.
_TO_ST = {dt.float64: "F64", dt.float32: "F32", dt.float16: "F16", dt.int64: "I64", dt.int32: "I32",
          dt.uint8: "U8", dt.bool: "BOOL"}
_FROM_ST = {v: k for k, v in _TO_ST.items()}


# ---- save -------------------------------------------------------------------------------
class _Encoder:
    """Turns the object into a JSON-able tree, collecting tensors under unique names."""

    def __init__(self):
        self.tensors: dict = {}

    def _name(self, path):
        base = ".".join(path) or "tensor"
        name, n = base, 1
        while name in self.tensors or name == "__metadata__":
            name, n = f"{base}#{n}", n + 1
        return name

    def encode(self, obj, path):
        if isinstance(obj, Tensor):
            name = self._name(path)
            self.tensors[name] = obj
            return {"__tensor__": name}
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return int(obj)
        if isinstance(obj, float):
            if math.isfinite(obj):
                return obj
            return {"__float__": repr(obj)}
        if isinstance(obj, np.generic) and isinstance(obj.item(), (bool, int, float)):
            return self.encode(obj.item(), path)
        if isinstance(obj, np.ndarray):
            from .creation import from_numpy
            return self.encode(from_numpy(np.ascontiguousarray(obj)), path)
        if isinstance(obj, dict):
            items = []
            for k, v in obj.items():
                if not (k is None or isinstance(k, (bool, int, float, str))):
                    raise TypeError(f"ember.save: dict keys must be str, int, float, bool or None, got "
                                    f"{type(k).__name__} at {'.'.join(path) or '<root>'}")
                items.append([self.encode(k, path), self.encode(v, path + [str(k)])])
            return {"__dict__": items}
        if isinstance(obj, (list, tuple)):
            tag = "__list__" if isinstance(obj, list) else "__tuple__"
            return {tag: [self.encode(v, path + [str(i)]) for i, v in enumerate(obj)]}
        raise TypeError(f"ember.save cannot store an object of type {type(obj).__name__} "
                        f"(at {'.'.join(path) or '<root>'}); only tensors, dicts, lists, tuples, numbers, "
                        "strings, bools and None are supported (no pickle)")


def _tensor_bytes(t: Tensor):
    t = t.detach()
    if not t.is_cpu:
        t = t.cpu()
    if t.dtype not in _TO_ST:
        raise TypeError(f"ember.save: dtype {t.dtype} is not supported in checkpoints")
    a = np.ascontiguousarray(t.numpy())
    a = a.astype(a.dtype.newbyteorder("<"), copy=False)
    return _TO_ST[t.dtype], list(t.shape), a.tobytes()


def _serialize(obj) -> list:
    enc = _Encoder()
    structure = enc.encode(obj, [])
    header: dict = {"__metadata__": {_FORMAT_KEY: "pt", _STRUCTURE_KEY: json.dumps(structure, allow_nan=False)}}
    chunks, offset = [], 0
    for name, t in enc.tensors.items():
        dtype, shape, data = _tensor_bytes(t)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return [struct.pack("<Q", len(text)), text] + chunks


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. platforms where directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save(obj, f) -> None:
    """Saves tensors and nested dicts/lists/tuples of them with plain metadata to `f` (a path or a
    writable binary file). Writing to a path is atomic: a crash leaves the old file untouched."""
    parts = _serialize(obj)
    if hasattr(f, "write") and not isinstance(f, (str, os.PathLike)):
        for p in parts:
            f.write(p)
        return
    path = os.fspath(f)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            for p in parts:
                out.write(p)
            out.flush()
            os.fsync(out.fileno())
        try:
            mode = os.stat(path).st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(folder)


# ---- load -------------------------------------------------------------------------------
def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"ember.load: duplicate key {k!r} in the safetensors header")
        out[k] = v
    return out


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _parse_header(buf: bytes):
    size = len(buf)
    if size < 8:
        raise ValueError(f"ember.load: file is {size} bytes, too short for the 8-byte header length")
    (n,) = struct.unpack("<Q", buf[:8])
    if n == 0 or n > _MAX_HEADER or 8 + n > size:
        raise ValueError(f"ember.load: header length {n} does not fit in the file of {size} bytes")
    try:
        header = json.loads(buf[8:8 + n].decode("utf-8"), object_pairs_hook=_no_duplicates,
                            parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"invalid constant {c}")))
    except ValueError as e:  # includes JSONDecodeError and UnicodeDecodeError
        raise ValueError(f"ember.load: the header is not valid JSON: {e}") from None
    except RecursionError:
        raise ValueError("ember.load: the header is nested too deeply") from None
    if not isinstance(header, dict):
        raise ValueError(f"ember.load: the header must be a JSON object, got {type(header).__name__}")
    metadata = header.pop("__metadata__", None)
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                      for k, v in metadata.items()):
            raise ValueError("ember.load: __metadata__ must map strings to strings")
    data_len = size - 8 - n
    entries = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"ember.load: tensor {name!r} must have exactly the fields dtype, shape, data_offsets")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in _FROM_ST:
            raise ValueError(f"ember.load: tensor {name!r} has unknown or unsupported dtype {dtype!r}")
        if not isinstance(shape, list) or not all(_is_int(s) and s >= 0 for s in shape):
            raise ValueError(f"ember.load: tensor {name!r} has invalid shape {shape!r} "
                             "(expected a list of non-negative ints)")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)):
            raise ValueError(f"ember.load: tensor {name!r} has invalid data_offsets {offsets!r}")
        begin, end = offsets
        if not 0 <= begin <= end <= data_len:
            raise ValueError(f"ember.load: tensor {name!r} has data_offsets [{begin}, {end}] outside the data "
                             f"section of {data_len} bytes")
        nbytes = math.prod(shape) * _FROM_ST[dtype].itemsize
        if end - begin != nbytes:
            raise ValueError(f"ember.load: tensor {name!r} of dtype {dtype} and shape {shape} needs {nbytes} "
                             f"bytes but data_offsets [{begin}, {end}] span {end - begin}")
        entries.append((name, dtype, shape, begin, end))
    # The format requires the tensors to tile the data section exactly: "The byte buffer needs to be
    # entirely indexed, and cannot contain holes. This prevents the creation of polyglot files."
    # The reference reader rejects holes and trailing bytes, and so does ember.
    ordered = sorted(entries, key=lambda e: (e[3], e[4]))
    covered, prev = 0, None
    for cur in ordered:
        name, _, _, begin, end = cur
        if begin < covered:
            raise ValueError(f"ember.load: tensors {prev[0]!r} [{prev[3]}, {prev[4]}] and {name!r} "
                             f"[{begin}, {end}] overlap")
        if begin > covered:
            raise ValueError(f"ember.load: bytes [{covered}, {begin}] of the data section belong to no tensor "
                             f"(a hole before {name!r}); safetensors files must not contain holes")
        covered, prev = end, cur
    if covered != data_len:
        raise ValueError(f"ember.load: the data section has {data_len} bytes but its tensors cover only "
                         f"{covered}; safetensors files must not have trailing bytes")
    return metadata or {}, entries, 8 + n


def _decode(node, tensors, depth=0):
    if depth > 500:
        raise ValueError("ember.load: the stored structure is nested too deeply")
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, dict) and len(node) == 1:
        (tag, val), = node.items()
        if tag == "__tensor__":
            if not isinstance(val, str) or val not in tensors:
                raise ValueError(f"ember.load: the structure refers to tensor {val!r}, which is not in the file")
            return tensors[val]
        if tag == "__float__" and val in ("nan", "inf", "-inf"):
            return float(val)
        if tag in ("__list__", "__tuple__") and isinstance(val, list):
            items = [_decode(v, tensors, depth + 1) for v in val]
            return items if tag == "__list__" else tuple(items)
        if tag == "__dict__" and isinstance(val, list):
            out = {}
            for item in val:
                if not (isinstance(item, list) and len(item) == 2):
                    raise ValueError("ember.load: malformed dict entry in the stored structure")
                key = _decode(item[0], tensors, depth + 1)
                if not (key is None or isinstance(key, (bool, int, float, str))):
                    raise ValueError(f"ember.load: invalid dict key {key!r} in the stored structure")
                out[key] = _decode(item[1], tensors, depth + 1)
            return out
    raise ValueError(f"ember.load: malformed node in the stored structure: {str(node)[:80]}")


def _read_bytes(f) -> bytes:
    if hasattr(f, "read") and not isinstance(f, (str, os.PathLike)):
        return f.read()
    with open(os.fspath(f), "rb") as fh:
        return fh.read()


def load(f, map_location=None, *, weights_only=True, mmap=None):
    """Loads what ``save`` wrote (or any safetensors file: then a dict of name -> tensor).

    ``map_location`` is accepted for torch compatibility: None/'cpu' keep tensors on the CPU; a
    device (or device string) moves them there. Tensors own their memory (copied from the file).
    ``weights_only`` is accepted and ignored: ember never unpickles anything.
    """
    from .creation import from_numpy

    buf = _read_bytes(f)
    metadata, entries, data_start = _parse_header(buf)
    tensors = {}
    for name, dtype, shape, begin, end in entries:
        edt = _FROM_ST[dtype]
        count = math.prod(shape)
        raw = np.frombuffer(buf, dtype=np.uint8, count=end - begin, offset=data_start + begin)
        if edt is dt.bool:
            arr = raw != 0
        else:
            arr = raw.view(np.dtype(edt._np).newbyteorder("<")).astype(edt._np, copy=True)
        arr = arr.reshape(shape) if count else np.zeros(shape, dtype=edt._np)
        t = from_numpy(arr)
        if map_location is not None and not (isinstance(map_location, str) and map_location == "cpu"):
            t = t.to(map_location)
        tensors[name] = t
    if _STRUCTURE_KEY not in metadata:
        return tensors
    try:
        structure = json.loads(metadata[_STRUCTURE_KEY], object_pairs_hook=_no_duplicates)
    except ValueError as e:
        raise ValueError(f"ember.load: the stored structure is not valid JSON: {e}") from None
    except RecursionError:
        raise ValueError("ember.load: the stored structure is nested too deeply") from None
    return _decode(structure, tensors)

