#!/usr/bin/env bash
# Create .venv in the checkout and install the pipeline into it (editable), with the
# test and MPI extras. Without a GPU the CPU build of torch goes in first, so the
# project's torch range does not pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade pip >/dev/null 2>&1 || true

if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    $PIP install -q "torch>=2.2,<2.15"
  else
    # this machine's own CPU wheel if it has one (pip's find-links), else PyTorch's CPU index
    probe=$(mktemp -d)
    if $PIP download -q --no-deps --no-index torch==2.13.0 -d "$probe" >/dev/null 2>&1; then
      $PIP install -q torch==2.13.0
    else
      $PIP install -q torch --index-url https://download.pytorch.org/whl/cpu \
        --extra-index-url https://pypi.org/simple
    fi
    rm -rf "$probe"
  fi
fi
$PIP install -q -e ".[test]"
echo "set-up done: $(pwd)/.venv/bin/lth"
