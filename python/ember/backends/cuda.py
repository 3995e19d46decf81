"""CUDA backend switches (mirroring torch.backends.cuda)."""
from .. import _C


class _MatmulSettings:
    """allow_tf32: float32 matmul, mm, bmm, addmm and linear on CUDA may use TF32 tensor cores
    (inputs rounded to a 10-bit mantissa, float32 accumulation): several times faster, with
    relative errors near 1e-3 instead of 1e-6. False by default, as in torch. The flag is
    process-wide and lives in C++, so every thread sees the same value. Convolutions ignore it."""

    __slots__ = ()

    @property
    def allow_tf32(self) -> bool:
        return _C.matmul_allow_tf32()

    @allow_tf32.setter
    def allow_tf32(self, value):
        if not isinstance(value, bool):
            raise TypeError(f"allow_tf32 must be a bool, got {type(value).__name__}")
        _C.set_matmul_allow_tf32(value)

    def __repr__(self):
        return f"_MatmulSettings(allow_tf32={self.allow_tf32})"


matmul = _MatmulSettings()
