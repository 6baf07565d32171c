#!/usr/bin/env bash
# The test command: makes .venv (CPU runtime, converters, test tools) if needed, then runs
# every test layer: unit, converter fidelity, and end-to-end in a real GIMP 3 (as root, on
# Debian-like machines; skipped with a reason elsewhere). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# The training tools' tests need torch; pinned, since an open range takes a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet 'torch==2.13.0'
.venv/bin/python -m pip install --quiet -e '.[cpu,dev,convert,train]'
.venv/bin/python -m pip install --quiet --no-deps 'tf-keras==2.21.*'

set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "error: pytest collected no tests" >&2
    exit 1
fi
exit "$status"
