#!/usr/bin/env bash
# Set up everything the test suite uses on a fresh Debian machine, then run it.
# As root with apt-get: Debian's Fashion-MNIST package and a real one-node Slurm
# cluster (.ci/slurm-up.sh). Without them the tests that need them are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  if [ ! -d /usr/share/datasets/fashion-mnist ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
  fi
  bash .ci/slurm-up.sh
fi

# lint and format first: a style error fails fast, before the long tests
.venv/bin/ruff check pipeline tests benchmarks scripts
.venv/bin/ruff format --check pipeline tests benchmarks scripts

export OMP_NUM_THREADS=1
exec .venv/bin/python -m pytest -q "$@"
