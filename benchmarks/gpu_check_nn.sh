#!/usr/bin/env bash
# One-go GPU check of the CUDA nn kernels (pool, activation, softmax/cross-entropy, norms, optim,
# interpolate, indexing, cumsum, reduce_stat): build and stage ember with CUDA, run
# tests/test_cuda_nn.py, the whole suite (tests/helpers.py::check_op then also runs every op test
# on CUDA), and compute-sanitizer memcheck and racecheck on tests/test_cuda_nn.py.
#
#   benchmarks/gpu_check_nn.sh                                  # build for sm_90 into build/gpu
#   SKIP_BUILD=1 STAGE=build/stage benchmarks/gpu_check_nn.sh   # reuse a staged build
#   SANITIZE_ARGS='-k "pool or softmax"' benchmarks/gpu_check_nn.sh   # a subset under the sanitizers
#
# Every step has a time limit in seconds (T_BUILD, T_NN, T_SUITE, T_MEMCHECK, T_RACECHECK).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build/gpu}
STAGE=${STAGE:-build/gpu-stage}
ARCHS=${ARCHS:-90-real}
JOBS=${JOBS:-$(nproc)}
SANITIZER=${SANITIZER:-$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)}
PY=${PY:-python3}

step() { printf '\n==== %s\n' "$*"; }

if [ -z "${SKIP_BUILD:-}" ]; then
  step "build ($ARCHS) into $BUILD"
  generator=()
  if command -v ninja >/dev/null; then generator=(-G Ninja); fi
  timeout "${T_BUILD:-1500}" cmake -S . -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DEMBER_CUDA=ON \
    -DEMBER_CUDA_ARCHS="$ARCHS" -DPython_EXECUTABLE="$(command -v python3)" \
    -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)"
  timeout "${T_BUILD:-1500}" cmake --build "$BUILD" -j "$JOBS"
  rm -rf "$STAGE" && mkdir -p "$STAGE" && cp -r python/ember "$STAGE"/ && cp "$BUILD"/_C*.so "$STAGE"/ember/
fi

STAGE_ABS="$(cd "$STAGE" && pwd)"
export PYTHONPATH="$STAGE_ABS${PYTHONPATH:+:$PYTHONPATH}"
staged() { "$PY" -c "import ember, sys; sys.exit(0 if ember.__file__.startswith('$STAGE_ABS/') else 1)"; }
if ! staged; then
  # An editable install's import hook (a .pth file in site-packages) shadows PYTHONPATH. A venv
  # that sees site-packages as a plain path (its .pth files unprocessed) keeps numpy, pytest & co.
  step "an installed ember shadows the staged one: testing through $BUILD/venv"
  python3 -m venv --clear "$BUILD/venv"
  purelib="$("$BUILD/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  python3 -c 'import site; print("\n".join(site.getsitepackages()))' > "$purelib/system_site.pth"
  PY="$PWD/$BUILD/venv/bin/python"
  staged || { echo "still not importing $STAGE_ABS/ember" >&2; exit 1; }
fi
PYTEST="\"$PY\" -m pytest -q -p no:cacheprovider -x"

step "ember under test"
"$PY" -c 'import ember; assert ember.cuda.is_available(), "ember sees no GPU"; print(ember.__file__, "|", ember.cuda.get_device_name(0), ember.cuda.get_device_capability(0))'

step "tests/test_cuda_nn.py"
eval "timeout ${T_NN:-900} $PYTEST tests/test_cuda_nn.py"

step "whole suite (check_op runs on CUDA too)"
eval "timeout ${T_SUITE:-2400} $PYTEST tests"

# Without the caching allocator every tensor is its own cudaMalloc, so memcheck sees each overrun.
export EMBER_CUDA_NO_CACHE=1
step "compute-sanitizer memcheck"
eval "timeout ${T_MEMCHECK:-3000} \"$SANITIZER\" --tool memcheck --error-exitcode 99 --leak-check no \
  $PYTEST tests/test_cuda_nn.py ${SANITIZE_ARGS:-}"
step "compute-sanitizer racecheck"
eval "timeout ${T_RACECHECK:-3000} \"$SANITIZER\" --tool racecheck --error-exitcode 99 \
  $PYTEST tests/test_cuda_nn.py ${SANITIZE_ARGS:-}"

step "all GPU checks passed"
