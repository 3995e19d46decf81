"""default_collate: turns a list of samples into a batch, recursively (like torch's)."""
from __future__ import annotations

import collections.abc
import numbers

import numpy as np

from ...tensor import Tensor

__all__ = ["default_collate"]


def _stack(tensors):
    import ember
    if hasattr(ember, "stack"):
        return ember.stack(tensors, 0)
    # Fallback for builds without ember.stack: assemble the batch through NumPy.
    return ember.from_numpy(np.stack([t.detach().numpy() for t in tensors]))


def default_collate(batch):
    """Tensors and NumPy arrays are stacked along a new first dim; Python/NumPy numbers become a
    tensor; strings stay a list; dicts, tuples, lists and namedtuples are collated per field."""
    import ember

    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack(batch)
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "SUO":
            raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                            f"found array of dtype {elem.dtype}")
        return ember.from_numpy(np.ascontiguousarray(np.stack(batch)))
    if isinstance(elem, np.generic):
        return ember.from_numpy(np.array(batch))
    if isinstance(elem, bool):
        return ember.tensor(batch, dtype=ember.bool)
    if isinstance(elem, numbers.Integral):
        return ember.tensor(batch, dtype=ember.int64)
    if isinstance(elem, float):
        return ember.tensor(batch, dtype=ember.float64)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(samples)) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(list(samples)) for samples in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                    f"found {type(elem)}")
