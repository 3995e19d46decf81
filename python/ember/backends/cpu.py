"""The CPU kernel path in use: 'avx512', 'avx2' or 'default' (lowered with EMBER_CPU_CAPABILITY),
and the convolution algorithm switch."""
from .. import _C


def capability() -> str:
    return _C.cpu_capability()


def detected_capability() -> str:
    """What the hardware supports, before EMBER_CPU_CAPABILITY lowers it."""
    return _C.detected_cpu_capability()


get_cpu_capability = capability


_CONV_ALGORITHMS = ("auto", "im2col", "winograd", "winograd4x4")


def set_conv_algorithm(name: str) -> None:
    """How float32 3x3 stride-1 convolutions run on the CPU: 'auto' (Winograd when both sides
    have at least 8 channels per group, else im2col + GEMM; the default: F(4x4, 3x3) on images
    from 8x8 up that its tiles fit well, F(2x2, 3x3) on the others), 'im2col' (always im2col +
    GEMM), 'winograd' (F(2x2, 3x3) wherever it applies) or 'winograd4x4' (F(4x4, 3x3) wherever
    it applies). An ember extension: results agree to float32 rounding, not bit for bit
    (F(4x4, 3x3): about 1e-5 of the largest value, see the README)."""
    if name not in _CONV_ALGORITHMS:
        raise ValueError(f"set_conv_algorithm: expected one of {_CONV_ALGORITHMS}, got {name!r}")
    _C.set_conv_algorithm(_CONV_ALGORITHMS.index(name))


def conv_algorithm() -> str:
    return _CONV_ALGORITHMS[_C.conv_algorithm()]
