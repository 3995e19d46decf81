"""What a benchmark ran on and under: CPU model, core count, library versions and the load average,
printed beside every table so that a number can be judged against the machine's state."""
from __future__ import annotations

import datetime
import os
import platform


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (platform.processor() is often empty on Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> str:
    """The SIMD extensions that matter for the kernels (AVX2, FMA, AVX-512F) the CPU reports."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return "+".join(x for x in ("avx2", "fma", "avx512f") if x in flags) or "no AVX2"
    except OSError:
        pass
    return "unknown"


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load average unavailable"
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min) on {os.cpu_count()} CPUs"


def header(libraries: dict) -> str:
    """One paragraph: date, CPU, and `libraries` (name -> version string)."""
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    libs = ", ".join(f"{k} {v}" for k, v in libraries.items())
    return f"{now}; {cpu_model()} ({cpu_flags()}), {os.cpu_count()} CPUs; {libs}"
