#!/usr/bin/env bash
# The GPU check, in one call on a GPU node (sized for 8 minutes on one H100 or H200, set-up
# included): set up from a bare checkout, run the GPU tests (`pytest -m gpu`), measure a
# LeNet-300-100 level (60k 28x28 images) and a ResNet-20 level (50k 32x32x3) with
# benchmarks/throughput.py (plain DataLoader loop, K=1 and the cohort, each eager and
# compiled), write benchmarks/results/gpu/<device>.json (copied to $OUT when set) and print
# a table. See docs/GPU.md.
#
# Exit status: 0 all passed; 1 a test, a correctness check or a step failed; 3 everything
# is correct but a speed target was missed.
#
# Environment:
#   LTH_GPU_SMOKE=1   a tiny run on any machine (CPU too), to check this script end to end;
#                     its JSON goes to $TMPDIR, never to benchmarks/results/gpu
#   LTH_GPU_RESNET_EPOCHS, LTH_GPU_LENET_EPOCHS   timed epochs per variant (default 1, 1)
#   LTH_GPU_RESNET_COHORT   the ResNet-20 cohort (default 32; 0 sizes it from free memory)
#   TORCHINDUCTOR_CACHE_DIR   compiled kernels (default: a folder under $TMPDIR, shared by
#                     the tests and the benchmark)
# Offline nodes: put wheels of the packages the node lacks in .whl/ (`bash
# benchmarks/gpu_check.sh --wheels`, run where PyPI is reachable); set-up installs from there.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--wheels" ]; then
  # The project's dependencies that a CUDA image with torch usually lacks, for CPython 3.12.
  mkdir -p .whl
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl \
    hydra-core omegaconf submitit mnist1d ruff h5netcdf mpich "setuptools>=68" || exit 1
  python3 -m pip wheel -q --no-deps -w .whl "antlr4-python3-runtime==4.9.*" || exit 1
  ls .whl
  exit 0
fi

SMOKE=${LTH_GPU_SMOKE:-0}
START=$(date +%s)
say() { echo "[gpu_check +$(($(date +%s) - START))s] $*"; }
FAILED=0
fail() { say "FAILED: $*"; FAILED=1; }

# -- 1. set up ----------------------------------------------------------------------------
if [ -d .whl ] && [ -n "$(ls -A .whl)" ]; then
  export PIP_NO_INDEX=1 PIP_FIND_LINKS="$PWD/.whl"
fi
if [ ! -x .venv/bin/python ] && command -v nvidia-smi >/dev/null 2>&1 &&
  python3 -c "import sys, torch; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
  # the node's own CUDA build of torch, instead of downloading one
  python3 -m venv --system-site-packages .venv
fi
say "set-up"
bash scripts/setup.sh || { say "FAILED: set-up"; exit 1; }
PY=$PWD/.venv/bin/python
export PYTHONUNBUFFERED=1
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-${TMPDIR:-/tmp}/lth_gpu_check_inductor}
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda,
  torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device')"

if [ "$SMOKE" = 1 ]; then
  DEVICE=cpu
  RESULT=${TMPDIR:-/tmp}/lth_gpu_check_smoke.json
  LENET=(--data synthetic_mnist --train-size 1024 --test-size 256 --epochs 1 --cohort 2)
  RESNET=(--data synthetic_cifar10 --train-size 256 --test-size 256 --epochs 1 --cohort 2
    --variants plain_eager,k1_eager,cohort_eager)  # compiling ResNet-20 takes minutes on a CPU
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
else
  if ! "$PY" -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
    say "FAILED: no CUDA device visible (LTH_GPU_SMOKE=1 checks this script on a CPU)"
    exit 1
  fi
  DEVICE=cuda
  NAME=$("$PY" -c "import re, torch; print(re.sub(r'[^A-Za-z0-9._-]+', '_',
    torch.cuda.get_device_name(0)).strip('_'))")
  RESULT=benchmarks/results/gpu/$NAME.json
  rm -f "$RESULT"  # this run's figures only
  LENET=(--data synthetic_mnist --epochs "${LTH_GPU_LENET_EPOCHS:-1}" --cohort 0)
  RESNET=(--data synthetic_cifar10 --epochs "${LTH_GPU_RESNET_EPOCHS:-1}"
    --cohort "${LTH_GPU_RESNET_COHORT:-32}")
fi
mkdir -p "$(dirname "$RESULT")"

# -- 2. the GPU tests -----------------------------------------------------------------------
say "pytest -m gpu"
"$PY" -m pytest -q -m gpu tests/ -p no:cacheprovider || fail "pytest -m gpu"

# -- 3. throughput of one level -------------------------------------------------------------
say "LeNet-300-100 level"
"$PY" benchmarks/throughput.py --model lenet_300_100 --device "$DEVICE" --json "$RESULT" \
  "${LENET[@]}" || fail "LeNet-300-100 throughput"
say "ResNet-20 level"
"$PY" benchmarks/throughput.py --model resnet20 --device "$DEVICE" --json "$RESULT" \
  "${RESNET[@]}" || fail "ResNet-20 throughput"

# -- 4. the table and the targets -----------------------------------------------------------
say "results: $RESULT"
"$PY" - "$RESULT" "$SMOKE" <<'EOF'
import sys
from pathlib import Path

from pipeline.io import load_json, save_json

result = load_json(Path(sys.argv[1]))
smoke = sys.argv[2] == "1"
print(f"{result['device']}, torch {result['torch']}, CUDA {result['cuda']}")
print(f"| model | variant | K | s/epoch/ticket | s/level/ticket | images/s | of fp32 peak |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
for model, entry in result.get("models", {}).items():
    for name, v in entry["variants"].items():
        peak = v["fraction_of_fp32_peak"]
        print(
            f"| {model} | {name} | {v['members']} | {v['seconds_per_epoch_per_ticket']:.4f} "
            f"| {v['seconds_per_level_per_ticket']:.3f} | {v['images_per_second']:.0f} "
            f"| {'-' if peak is None else f'{peak:.1%}'} |"
        )
    for name, ratio in entry["ratios"].items():
        print(f"  {model} {name}: {ratio:.1f}x")
# Targets (docs/GPU.md): a LeNet-300-100 level at most 0.25 s per ticket and at least 100x
# the plain loop; a ResNet-20 level at most 60 s per ticket.
models = result.get("models", {})
targets = {}
lenet = models.get("lenet_300_100", {}).get("variants", {})
if "cohort_compiled" in lenet and "plain_eager" in lenet:
    best = lenet["cohort_compiled"]["seconds_per_level_per_ticket"]
    targets["lenet level <= 0.25 s per ticket"] = best <= 0.25
    targets["lenet >= 100x the plain loop"] = (
        lenet["plain_eager"]["seconds_per_level_per_ticket"] / best >= 100
    )
resnet = models.get("resnet20", {}).get("variants", {})
if "cohort_compiled" in resnet:
    best = resnet["cohort_compiled"]["seconds_per_level_per_ticket"]
    targets["resnet20 level <= 60 s per ticket"] = best <= 60
for name, met in targets.items():
    print(f"target {name}: {'met' if met else 'MISSED'}")
result["targets"] = targets
save_json(Path(sys.argv[1]), result)
sys.exit(0 if smoke or all(targets.values()) else 3)
EOF
TARGETS=$?

if [ -n "${OUT:-}" ]; then
  cp "$RESULT" "$OUT/" && say "copied to $OUT/$(basename "$RESULT")"
fi
say "done"
if [ "$FAILED" = 1 ]; then exit 1; fi
exit "$TARGETS"
