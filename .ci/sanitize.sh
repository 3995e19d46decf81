#!/usr/bin/env bash
# CI step: builds ember._C with AddressSanitizer + UndefinedBehaviorSanitizer (EMBER_SANITIZE) in its
# own build dir and runs a fast subset of the tests against it. Any sanitizer report fails the step,
# including reports from subprocesses the tests start (they go to log files that must stay empty).
#
# The recipe for a sanitized extension inside an uninstrumented python: the ASan runtime must be the
# first library loaded, so it is LD_PRELOADed, together with libstdc++ (python does not link it, and
# without it ASan cannot intercept __cxa_throw and aborts on the first C++ exception). CPython's
# deliberate never-freed allocations would drown LeakSanitizer, hence detect_leaks=0; the leak check
# is tests/test_leaks.py. PYTHONMALLOC=malloc routes Python's own buffers through ASan too.
# ASan reports go to log files (subprocesses included); UBSan's do not honour log_path when combined
# with ASan (GCC 12), so they halt the process and the run's output is searched for them too.
# Usage: .ci/sanitize.sh [pytest args...]  (default: the subset below). Needs cmake, ninja or make,
# and pybind11, numpy, pytest, hypothesis, safetensors in the current python.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
PYTHON=${PYTHON:-python3}
BUILD=${EMBER_SANITIZE_BUILD_DIR:-$PWD/build/asan}
SANITIZERS=address,undefined

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S . -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DEMBER_SANITIZE="$SANITIZERS" \
  -DEMBER_CUDA=OFF -DPython_EXECUTABLE="$(command -v "$PYTHON")" \
  -Dpybind11_DIR="$("$PYTHON" -m pybind11 --cmakedir)" >/dev/null
cmake --build "$BUILD" --parallel "$(nproc)"
echo "sanitize: build done after $(( $(date +%s) - start ))s"

# Every object that goes into _C must be instrumented, the per-ISA kernel copies included.
# (nm's whole output is matched at once: `nm | grep -q` under pipefail fails whenever grep stops
# reading early and nm dies of SIGPIPE, which flagged instrumented objects at random.)
uninstrumented=$(find "$BUILD/CMakeFiles" -name '*.o' | while read -r o; do
  [[ "$(nm -u "$o")" == *__asan_init* ]] || echo "$o"; done)
if [[ -n "$uninstrumented" ]]; then
  echo "sanitize: objects built without ASan:"; echo "$uninstrumented"; exit 1
fi

# The package as the tests import it: the Python sources beside the sanitized _C.
stage="$BUILD/stage"
rm -rf "$stage" && mkdir -p "$stage"
cp -r python/ember "$stage/ember"
cp "$BUILD"/_C*.so "$stage/ember/"

logs="$BUILD/sanitizer-logs"
rm -rf "$logs" && mkdir -p "$logs"
cxx=${CXX:-c++}
export LD_PRELOAD="$("$cxx" -print-file-name=libasan.so) $("$cxx" -print-file-name=libstdc++.so)"
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:log_path=$logs/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export PYTHONMALLOC=malloc PYTHONPATH="$stage" OMP_NUM_THREADS=2

# The subset: the core tensor ops, every kernel family at small sizes, the optimizers, checkpoints,
# threads and the short leak check. The examples and the exhaustive suites run in the main CI step.
if [[ $# -eq 0 ]]; then
  set -- tests/test_tensor.py tests/test_shape_ops.py tests/test_indexing.py tests/test_reduce.py \
    tests/test_linalg.py tests/test_conv.py tests/test_nn_functional.py tests/test_optim.py \
    tests/test_interop.py tests/test_io.py tests/test_checkpoint_robustness.py tests/test_threads.py \
    tests/test_leaks.py
fi
status=0
"$PYTHON" -c "import ember, sys; assert ember.__file__.startswith('$stage'), ember.__file__" || status=$?
if [[ $status -eq 0 ]]; then
  "$PYTHON" -m pytest -q -p no:cacheprovider "$@" 2>&1 | tee "$BUILD/sanitize-pytest.log"
  status=${PIPESTATUS[0]}
fi
unset LD_PRELOAD

if compgen -G "$logs/*" >/dev/null; then
  echo "sanitize: AddressSanitizer reports:"; cat "$logs"/*; status=1
fi
if grep -qE "runtime error:|ERROR: AddressSanitizer" "$BUILD/sanitize-pytest.log"; then
  echo "sanitize: the test output holds sanitizer reports (see above)"; status=1
fi
echo "sanitize: finished after $(( $(date +%s) - start ))s (status $status)"
exit $status
