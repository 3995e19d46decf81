#!/usr/bin/env bash
# The checks a GPU session runs: build and install ember with CUDA, then each area's CUDA tests
# (GEMM/conv, the nn kernels, the whole suite), benchmarks against PyTorch and compute-sanitizer
# memcheck and racecheck, one section per area. Needs a GPU, nvcc, pytest, scikit-build-core, pybind11, PyTorch and
# compute-sanitizer. Every step has a time limit; all of them take about two 10-minute calls.
#   bash benchmarks/gpu_check.sh 2>&1 | tee gpu_check.log        # every step
#   bash benchmarks/gpu_check.sh build linalg-tests linalg-bench  # some steps
# A failing step does not stop the later ones (a failed build does); the exit status is non-zero
# if any step failed, and the last line lists them. EMBER_CUDA_ARCHS overrides the architectures
# built (default: the GPU's own, e.g. 90-real).
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
# Default order: what proves correctness first, then speed, then the sanitizers (slowest). The
# steps fit two 10-minute calls of the device tool: `build linalg-tests nn-tests suite` and then
# `linalg-bench train-bench linalg-memcheck nn-memcheck linalg-racecheck nn-racecheck`.
STEPS=" ${*:-build linalg-tests nn-tests suite linalg-bench train-bench linalg-memcheck nn-memcheck linalg-racecheck nn-racecheck} "
FAILED=()

# run_step NAME SECONDS COMMAND...: runs COMMAND under a time limit when NAME was asked for.
run_step() {
  local name=$1 limit=$2
  shift 2
  [[ "$STEPS" == *" $name "* ]] || return 0
  echo
  echo "== $name (limit ${limit}s, $(date +%T))"
  local rc=0
  timeout "$limit" "$@" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "== $name FAILED (exit $rc$([ "$rc" -eq 124 ] && echo ': time limit'))"
    FAILED+=("$name")
  fi
}

# ---- build ----------------------------------------------------------------------------------------
nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader
if [ -z "${EMBER_CUDA_ARCHS:-}" ]; then
  EMBER_CUDA_ARCHS="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d ' .')-real"
fi
export EMBER_CUDA_ARCHS EMBER_CUDA=ON
# A persistent build dir makes a rerun on the same machine incremental.
run_step build 600 "$PY" -m pip install --no-build-isolation -q -Cbuild-dir=build/gpu_check .
if [ ${#FAILED[@]} -ne 0 ]; then exit 1; fi
"$PY" -c "import ember; assert ember.cuda.is_available(), 'ember sees no CUDA GPU'; \
print('ember', ember.__file__, 'on', ember.cuda.get_device_name(0))"

# ==== CUDA GEMM, linear and convolution (csrc/cuda/gemm*.cu*, conv*.cu*) =============================
run_step linalg-tests 300 "$PY" -m pytest -q -p no:cacheprovider \
  tests/test_cuda_linalg.py tests/test_linalg.py tests/test_conv.py
run_step linalg-bench 180 "$PY" benchmarks/bench_cuda_gemm.py --reps 5
# memcheck: every allocation its own cudaMalloc, so any access outside a tensor is caught; float32
# only and without the largest products, to stay inside the time limit.
run_step linalg-memcheck 300 env EMBER_CUDA_NO_CACHE=1 compute-sanitizer --tool memcheck --error-exitcode 1 \
  --print-limit 20 "$PY" -m pytest -q -p no:cacheprovider -x tests/test_cuda_linalg.py \
  -k "not float64 and not large_products and not 1025"
# racecheck (shared-memory hazards): one test per tile kernel (64- and 128-tiles, float64, TF32,
# split-K), the three implicit-GEMM convolutions, the depthwise kernels and the reference kernels.
run_step linalg-racecheck 240 env EMBER_CUDA_NO_CACHE=1 compute-sanitizer --tool racecheck --error-exitcode 1 \
  --print-limit 20 "$PY" -m pytest -q -p no:cacheprovider -x tests/test_cuda_linalg.py \
  -k "(four_transposes and 129-257-97) or large_products or tf32_is_used or (long_k and 17-4099-33) \
      or (conv2d_cases and float32 and (x8x32x33x31 or x2x3x9x9 or x2x24x15x15)) or fast_kernels"

# ==== CUDA nn kernels (pool, activations, softmax/cross-entropy, norms, optim, interpolate, ======
# indexing, cumsum, reduce statistics: csrc/cuda/*.cu beyond GEMM and conv)
run_step nn-tests 300 "$PY" -m pytest -q -p no:cacheprovider tests/test_cuda_nn.py tests/test_cuda.py
# The whole suite: tests/helpers.py::check_op also runs every op test on CUDA against the CPU.
run_step suite 420 "$PY" -m pytest -q -p no:cacheprovider -x tests
# memcheck and racecheck on one case of every kernel family (each launch runs 10-100x slower
# under the sanitizers, so the whole file does not fit).
NN_SANITIZE_K="max_pool2d_values or avg_pool2d_grid or adaptive_pools or pool_gather_backward \
  or activation_forward_and_backward or softmax_over_any_dim or softmax_warp_block \
  or cross_entropy_class_targets or cross_entropy_paths or probability_targets \
  or batch_norm_outputs or tiled_welford or layer_norm_paths or group_norm \
  or fused_optimizer_step or multi_tensor_launch or interpolate_sizes or interpolate_gather \
  or gather_scatter or scatter_add or nonzero or tril_triu or cumsum or dropout_gradient"
run_step nn-memcheck 300 env EMBER_CUDA_NO_CACHE=1 compute-sanitizer --tool memcheck --error-exitcode 1 \
  --leak-check no --print-limit 20 "$PY" -m pytest -q -p no:cacheprovider -x tests/test_cuda_nn.py \
  -k "($NN_SANITIZE_K) and not float64"
run_step nn-racecheck 300 env EMBER_CUDA_NO_CACHE=1 compute-sanitizer --tool racecheck --error-exitcode 1 \
  --print-limit 20 "$PY" -m pytest -q -p no:cacheprovider -x tests/test_cuda_nn.py \
  -k "($NN_SANITIZE_K) and not float64"

# ==== whole training steps against PyTorch CUDA ======================================================
run_step train-bench 300 "$PY" benchmarks/run.py --device cuda --reps 10 --no-rss

echo
if [ ${#FAILED[@]} -ne 0 ]; then
  echo "gpu_check: FAILED steps: ${FAILED[*]} ($(date +%T))"
  exit 1
fi
echo "gpu_check: all steps passed:${STEPS}($(date +%T))"
