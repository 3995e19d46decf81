"""ember.cuda: device queries and memory statistics (mirrors torch.cuda).

CUDA memory comes from a caching allocator: freed blocks are kept for reuse, so
`memory_allocated` (bytes in live tensors, rounded to the allocator's block sizes) is usually less
than `memory_reserved` (live plus cached). `empty_cache()` returns the cached blocks to the driver.
Set EMBER_CUDA_NO_CACHE=1 before the first CUDA allocation to bypass the cache (every tensor is
its own cudaMalloc), e.g. when running under compute-sanitizer.

Multi-GPU note: ember allocates on the *current* CUDA device, which ember itself never changes
(device 0 unless the process changed it); tensors on other indices are not supported yet.
Pinned host memory (`pin_memory()`) and asynchronous copies are not implemented yet:
`non_blocking=True` is accepted and copies synchronously.
"""
from __future__ import annotations

from . import _C

__all__ = ["is_available", "device_count", "current_device", "synchronize", "manual_seed", "manual_seed_all",
           "memory_allocated", "max_memory_allocated", "memory_reserved", "reset_peak_memory_stats",
           "memory_stats", "empty_cache", "get_device_name", "get_device_capability"]


def _lazy():
    if not _C.has_cuda:
        raise RuntimeError("ember was built without CUDA support (ember._C.has_cuda is False)")
    if _C.cuda_device_count() == 0:
        raise RuntimeError("no CUDA GPUs are available")


def _index(device) -> int:
    """Device index from None (current), an int, 'cuda'/'cuda:N' or an ember.device."""
    if device is None:
        return _C.cuda_current_device()
    if isinstance(device, int) and not isinstance(device, bool):
        return device
    from ._device import device as _device_cls
    d = _device_cls(device)
    if d.type != "cuda":
        raise ValueError(f"Expected a cuda device, but got: {d}")
    return _C.cuda_current_device() if d.index is None else d.index


def is_available() -> bool:
    return bool(_C.has_cuda) and _C.cuda_device_count() > 0


def device_count() -> int:
    return _C.cuda_device_count() if _C.has_cuda else 0


def current_device() -> int:
    _lazy()
    return _C.cuda_current_device()


def synchronize(device=None) -> None:
    """Waits until every kernel and copy queued on the device has finished."""
    _lazy()
    _C.cuda_synchronize()


def get_device_name(device=None) -> str:
    _lazy()
    return _C.cuda_device_name(_index(device))


def get_device_capability(device=None) -> tuple:
    _lazy()
    return tuple(_C.cuda_device_capability(_index(device)))


def manual_seed(seed) -> None:
    """CUDA draws use the same Philox generator as the CPU, so this seeds it."""
    from .random import manual_seed as _ms
    _ms(seed)


manual_seed_all = manual_seed


def memory_stats(device=None) -> dict:
    """{'allocated_bytes', 'peak_bytes', 'cached_bytes'} of one device's caching allocator."""
    _lazy()
    return dict(_C.cuda_memory_stats(_index(device)))


def memory_allocated(device=None) -> int:
    return memory_stats(device)["allocated_bytes"]


def max_memory_allocated(device=None) -> int:
    return memory_stats(device)["peak_bytes"]


def memory_reserved(device=None) -> int:
    s = memory_stats(device)
    return s["allocated_bytes"] + s["cached_bytes"]


def reset_peak_memory_stats(device=None) -> None:
    _lazy()
    _C.cuda_reset_peak_memory_stats(_index(device))


def empty_cache() -> None:
    """Returns cached, unused blocks to the driver (a no-op without CUDA)."""
    if is_available():
        _C.cuda_empty_cache()
