"""ember's CPU thread pool: the C++ test of parallel_for (tests/cpp/test_parallel.cpp), and ops that
give the same results for every thread count."""
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import ember
import ember.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("g++") is None or not (ROOT / "csrc").is_dir(),
                    reason="needs g++ and the source tree")
def test_parallel_for_cpp(tmp_path):
    exe = tmp_path / "test_parallel"
    subprocess.run(["g++", "-O2", "-std=c++17", "-pthread", f"-I{ROOT / 'csrc'}",
                    str(ROOT / "tests/cpp/test_parallel.cpp"), str(ROOT / "csrc/core/parallel.cpp"), "-o", str(exe)],
                   check=True, capture_output=True, timeout=300)
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all passed" in proc.stdout


@pytest.fixture
def restore_threads():
    n = ember.get_num_threads()
    yield
    ember.set_num_threads(n)


def test_ops_agree_for_every_thread_count(restore_threads, rng):
    x = rng.standard_normal((257, 1031)).astype(np.float32)
    w = rng.standard_normal((64, 3, 3, 3)).astype(np.float32)
    img = rng.standard_normal((5, 3, 33, 31)).astype(np.float32)
    results = []
    for threads in (1, 2, 3, 5):
        ember.set_num_threads(threads)
        xe = ember.from_numpy(x)
        results.append([
            (xe * 2 + 1).exp().numpy(),
            xe.sum(1).numpy(), xe.sum(0).numpy(), xe.sum().numpy(),
            (xe @ xe.T).numpy(),
            F.conv2d(ember.from_numpy(img), ember.from_numpy(w), padding=1).numpy(),
        ])
    for other in results[1:]:
        for got, want in zip(other, results[0]):
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-4)
