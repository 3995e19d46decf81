"""The CPU kernel path in use: 'avx512', 'avx2' or 'default' (lowered with EMBER_CPU_CAPABILITY)."""
from .. import _C


def capability() -> str:
    return _C.cpu_capability()


def detected_capability() -> str:
    """What the hardware supports, before EMBER_CPU_CAPABILITY lowers it."""
    return _C.detected_cpu_capability()


get_cpu_capability = capability
