"""The build reports what it contains, and EMBER_CPU_CAPABILITY lowers the kernel path."""
import os
import subprocess
import sys

import pytest

import ember


def test_has_cuda_is_a_bool():
    assert isinstance(ember._C.has_cuda, bool)


def test_capability_is_one_of_the_paths():
    assert ember.backends.cpu.capability() in ("avx512", "avx2", "default")


@pytest.mark.parametrize("want", ["avx2", "default"])
def test_env_var_lowers_the_path(want):
    order = ["default", "avx2", "avx512"]
    env = dict(os.environ, EMBER_CPU_CAPABILITY=want)
    out = subprocess.run([sys.executable, "-c", "import ember; print(ember.backends.cpu.capability())"],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    detected = ember.backends.cpu.detected_capability()
    assert out == order[min(order.index(want), order.index(detected))]


def test_bad_env_value_is_a_clear_error():
    env = dict(os.environ, EMBER_CPU_CAPABILITY="sse9")
    r = subprocess.run([sys.executable, "-c", "import ember; ember.backends.cpu.capability()"], env=env,
                       capture_output=True, text=True)
    assert r.returncode != 0 and "sse9" in r.stderr
