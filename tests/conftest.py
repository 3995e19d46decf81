"""Shared fixtures: `device` runs a test on the CPU always and on CUDA when a GPU is present."""
import os

import numpy as np
import pytest

import ember

_DEVICES = ["cpu"] + (["cuda"] if ember.cuda.is_available() else [])


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    if request.param not in _DEVICES:
        pytest.skip("CUDA is not available" if ember._C.has_cuda else "ember was built without CUDA")
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def pytest_report_header(config):
    return (f"ember: cpu path={ember.backends.cpu.capability()} "
            f"(detected {ember.backends.cpu.detected_capability()}, "
            f"EMBER_CPU_CAPABILITY={os.environ.get('EMBER_CPU_CAPABILITY', '<unset>')}), "
            f"has_cuda={ember._C.has_cuda}, threads={ember.get_num_threads()}")
