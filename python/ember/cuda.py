"""ember.cuda: device queries and memory statistics (mirrors torch.cuda)."""
from __future__ import annotations

from . import _C

__all__ = ["is_available", "device_count", "synchronize", "manual_seed", "manual_seed_all",
           "memory_allocated", "max_memory_allocated", "reset_peak_memory_stats", "empty_cache",
           "current_device"]


def _lazy():
    if not _C.has_cuda:
        raise RuntimeError("ember was built without CUDA support (ember._C.has_cuda is False)")
    if _C.cuda_device_count() == 0:
        raise RuntimeError("no CUDA GPUs are available")


def is_available() -> bool:
    return bool(_C.has_cuda) and _C.cuda_device_count() > 0


def device_count() -> int:
    return _C.cuda_device_count() if _C.has_cuda else 0


def current_device() -> int:
    _lazy()
    return 0


def synchronize(device=None) -> None:
    _lazy()
    _C.cuda_synchronize()


def manual_seed(seed) -> None:
    """CUDA draws use the same Philox generator as the CPU, so this seeds it."""
    from .random import manual_seed as _ms
    _ms(seed)


manual_seed_all = manual_seed


def memory_allocated(device=None) -> int:
    _lazy()
    return _C.memory_stats(1)["allocated_bytes"]


def max_memory_allocated(device=None) -> int:
    _lazy()
    return _C.memory_stats(1)["peak_bytes"]


def reset_peak_memory_stats(device=None) -> None:
    _lazy()
    _C.reset_peak_memory_stats(1)


def empty_cache() -> None:
    if is_available():
        _C.empty_cache(1)
