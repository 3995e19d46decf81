#!/usr/bin/env bash
# The checks a GPU session runs in one go: build and install ember with CUDA, then each area's
# CUDA tests, compute-sanitizer runs and benchmarks, one section per area (each area keeps to its
# own section). Run from anywhere on a machine with a GPU, nvcc, pytest, scikit-build-core,
# pybind11, PyTorch and compute-sanitizer; about 10 minutes on an H200:
#   bash benchmarks/gpu_check.sh 2>&1 | tee gpu_check.log
# EMBER_CUDA_ARCHS overrides the architectures built (default: the GPU's own, e.g. 90-real).
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
step() { echo; echo "== $* ($(date +%T))"; }

# ---- build ----------------------------------------------------------------------------------------
nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader
if [ -z "${EMBER_CUDA_ARCHS:-}" ]; then
  EMBER_CUDA_ARCHS="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d ' .')-real"
fi
export EMBER_CUDA_ARCHS
step "build and install ember (CUDA archs $EMBER_CUDA_ARCHS)"
# A persistent build dir makes a rerun on the same machine incremental.
EMBER_CUDA=ON timeout 1200 "$PY" -m pip install --no-build-isolation -q -Cbuild-dir=build/gpu_check .
"$PY" -c "import ember; assert ember.cuda.is_available(), 'ember sees no CUDA GPU'; \
print('ember', ember.__file__, 'on', ember.cuda.get_device_name(0))"

# ==== CUDA GEMM, linear and convolution (csrc/cuda/gemm*.cu*, conv*.cu*) =============================
step "linalg: CUDA tests (and the CPU linalg/conv suites, which run on every device)"
timeout 900 "$PY" -m pytest -q -p no:cacheprovider tests/test_cuda_linalg.py tests/test_linalg.py tests/test_conv.py

step "linalg: compute-sanitizer memcheck (every allocation its own cudaMalloc)"
EMBER_CUDA_NO_CACHE=1 timeout 900 compute-sanitizer --tool memcheck --error-exitcode 1 --print-limit 20 \
  "$PY" -m pytest -q -p no:cacheprovider -x tests/test_cuda_linalg.py

step "linalg: compute-sanitizer racecheck (each tile kernel, the TF32 kernel, the direct conv kernels)"
EMBER_CUDA_NO_CACHE=1 timeout 900 compute-sanitizer --tool racecheck --error-exitcode 1 --print-limit 20 \
  "$PY" -m pytest -q -p no:cacheprovider -x tests/test_cuda_linalg.py \
  -k "(four_transposes and 129-257-97) or large_products or tf32_is_used or (long_k and 17-4099-33) \
      or (conv2d_cases and float32 and (x8x32x33x31 or x2x3x9x9 or x2x24x15x15)) or fast_kernels"

step "linalg: SGEMM benchmark against torch.matmul"
timeout 600 "$PY" benchmarks/bench_cuda_gemm.py --reps 5

echo
echo "gpu_check: all steps passed ($(date +%T))"
