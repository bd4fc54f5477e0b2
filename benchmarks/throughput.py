"""Training throughput of one IMP level: a plain loop, the pipeline with K=1, and a cohort,
each eager and compiled, all in this one process so the ratios hold on a noisy machine.

- plain: the common way, a torch DataLoader over CPU tensors, one nn.Module, one optimizer
  (compiled: the same loop with its step under torch.compile);
- k1: the pipeline's trainer with one member (data resident on the device);
- cohort: the pipeline's trainer with K members as one network (K from the device's free
  memory when --cohort 0, as `launcher.cohort_size=0` does).
Each variant first runs --warmup iterations (compiling, for the compiled ones), then is timed
over --epochs epochs (fractions allowed) and scaled: seconds per epoch per ticket (a ticket is
one member), seconds per IMP level per ticket (--level-epochs epochs), images per second and
the fraction of the device's fp32 peak. Results merge into --json under the model's name.

    OMP_NUM_THREADS=1 python benchmarks/throughput.py --model lenet_300_100 \
        --data synthetic_mnist --cohort 16 --epochs 0.5 --variants plain_eager,cohort_eager
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torch.utils.data import TensorDataset as LoaderDataset

from pipeline.config import LauncherConfig, TrainConfig
from pipeline.data import load_dataset
from pipeline.data.batches import iterations_per_epoch
from pipeline.data.tensors import TensorDataset
from pipeline.io import load_json, save_json
from pipeline.launch.sizing import cohort_size, resolve_device
from pipeline.models import build_plain, initial_state
from pipeline.steps import Schedule
from pipeline.train.compiled import SAFE_OPTIONS, compile_mode
from pipeline.train.schedule import learning_rate
from pipeline.train.trainer import CohortTrainer, LevelPlan, Member, evaluate

# Dense fp32 peak FLOP/s (no tensor cores) by device name fragment, from the vendor sheets
# (SXM parts; the H100 PCIe is 51e12).
PEAK_FP32 = {"H200": 67e12, "H100": 67e12, "A100": 19.5e12}
# Epochs of one IMP level in the standard recipes (Frankle & Carbin 2019; He et al. 2016).
LEVEL_EPOCHS = {"lenet_300_100": 40, "resnet20": 160}


def flops_per_image(model: torch.nn.Module, shape: tuple[int, ...]) -> float:
    """Forward multiply-adds x 2 (FLOPs) x 3 (forward + backward), counted by hooks."""
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, torch.nn.Linear):
            total += module.weight.numel()
        elif isinstance(module, (torch.nn.Conv1d, torch.nn.Conv2d)):
            total += module.weight.numel() * output.shape[2:].numel()

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    for hook in hooks:
        hook.remove()
    return 6.0 * total


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Bench:
    model: str
    data: TensorDataset  # on the CPU (the plain loop's source)
    resident: TensorDataset  # on the device
    train: TrainConfig
    device: torch.device
    cohort: int


def _plain_step(model, optimizer, x, y) -> None:
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def plain_loop(bench: Bench, iterations: int, compiled: bool) -> tuple[float, int, dict]:
    """The common way, timed after a warm-up (which compiles, when compiled)."""
    name, data, device = bench.model, bench.data, bench.device
    model = build_plain(name, data.input_shape, data.num_classes).to(device)
    model.load_state_dict(initial_state(name, data.input_shape, data.num_classes, 0))
    lr = torch.tensor(bench.train.lr, device=device) if compiled else bench.train.lr
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=bench.train.momentum)
    step = _plain_step
    if compiled:
        mode = compile_mode(device)
        options = {**torch._inductor.list_mode_options(mode), **SAFE_OPTIONS}
        step = torch.compile(_plain_step, dynamic=False, options=options)
    loader = DataLoader(
        LoaderDataset(data.x_train, data.y_train),
        batch_size=bench.train.batch_size,
        shuffle=True,
        drop_last=True,
        pin_memory=device.type == "cuda",
    )

    def run(count: int) -> float:
        done, began = 0, time.perf_counter()
        while done < count:
            for x, y in loader:
                if compiled and device.type == "cuda":
                    torch.compiler.cudagraph_mark_step_begin()
                step(model, opt, x.to(device, non_blocking=True), y.to(device, non_blocking=True))
                done += 1
                if done == count:
                    break
        _sync(device)
        return time.perf_counter() - began

    first = run(max(3, iterations // 20))
    return run(iterations), 1, {"first_run_seconds": first}


def cohort_loop(
    bench: Bench, iterations: int, members: int, compiled: bool
) -> tuple[float, int, dict]:
    """The pipeline's trainer: a warm-up level (compiling, when compiled), then a timed level
    of the same shape (reusing the compiled cohort). Timed levels evaluate on 256 test images
    (their start and end evaluations cost next to nothing); accuracy is measured after, on
    the whole test set."""
    data, train, device = bench.resident, bench.train, bench.device
    quick = TensorDataset(
        data.x_train, data.y_train, data.x_test[:256], data.y_test[:256], data.num_classes
    )
    ipe = iterations_per_epoch(len(data.y_train), train.batch_size, train.drop_last)

    def trainer(end: int) -> CohortTrainer:
        plan = LevelPlan(
            bench.model,
            train,
            0,
            0,
            end,
            learning_rate(train, Schedule.resolve(train, ipe)),
            compile=compiled,
        )
        start = [
            Member(s, initial_state(bench.model, data.input_shape, data.num_classes, s))
            for s in range(members)
        ]
        return CohortTrainer(plan, start, quick, device)

    began = time.perf_counter()
    trainer(max(3, iterations // 20)).run()
    _sync(device)
    first = time.perf_counter() - began
    timed = trainer(iterations)
    began = time.perf_counter()
    timed.run()
    _sync(device)
    total = time.perf_counter() - began
    accuracy, _ = evaluate(timed.model, data, members)
    fallback = getattr(timed.cohort, "fallback", None)
    extra = {
        "first_run_seconds": first,
        "test_accuracy": accuracy.tolist(),
        "compile_fallback": fallback,
    }
    return total, members, extra


VARIANTS: dict[str, Callable[[Bench, int], tuple[float, int, dict]]] = {
    "plain_eager": lambda b, n: plain_loop(b, n, compiled=False),
    "plain_compiled": lambda b, n: plain_loop(b, n, compiled=True),
    "k1_eager": lambda b, n: cohort_loop(b, n, 1, compiled=False),
    "k1_compiled": lambda b, n: cohort_loop(b, n, 1, compiled=True),
    "cohort_eager": lambda b, n: cohort_loop(b, n, b.cohort, compiled=False),
    "cohort_compiled": lambda b, n: cohort_loop(b, n, b.cohort, compiled=True),
}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def same_accuracy(eager: list[float], compiled: list[float]) -> bool:
    """Compiled and eager cohorts (the same seeds) agree within seed noise: their mean test
    accuracies differ by at most twice the standard error of the eager members, plus 0.01."""
    spread = statistics.stdev(eager) / len(eager) ** 0.5 if len(eager) > 1 else 0.0
    return abs(statistics.mean(compiled) - statistics.mean(eager)) <= 2 * spread + 0.01


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="lenet_300_100")
    parser.add_argument("--data", default="synthetic_mnist")
    parser.add_argument("--cohort", type=int, default=0, help="0: from the free memory")
    parser.add_argument("--epochs", type=float, default=1.0, help="timed epochs per variant")
    parser.add_argument("--level-epochs", type=int, default=0, help="0: the model's recipe")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--train-size", type=int, default=0, help="0: the whole training set")
    parser.add_argument("--test-size", type=int, default=0, help="0: the whole test set")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", default="benchmarks/results/throughput.json")
    args = parser.parse_args()

    device = resolve_device(args.device)
    data = load_dataset(args.data)
    train_size, test_size = args.train_size or None, args.test_size or None
    data = TensorDataset(
        data.x_train[:train_size],
        data.y_train[:train_size],
        data.x_test[:test_size],
        data.y_test[:test_size],
        data.num_classes,
    )
    train = TrainConfig(
        optimizer="sgd", lr=0.05, momentum=0.9, batch_size=args.batch_size, drop_last=True
    )
    launcher = LauncherConfig(device=str(device), cohort_size=args.cohort)
    members = cohort_size(launcher, args.model, data.input_shape, data.num_classes, args.batch_size)
    bench = Bench(args.model, data, data.to(device), train, device, members)
    ipe = iterations_per_epoch(len(data.y_train), args.batch_size, drop_last=True)
    iterations = max(1, round(args.epochs * ipe))
    level_epochs = args.level_epochs or LEVEL_EPOCHS.get(args.model, 40)
    flops = flops_per_image(build_plain(args.model, data.input_shape, 10), data.input_shape)
    name = device_name(device)
    peak = next((p for key, p in PEAK_FP32.items() if key in name), None)

    variants = {}
    for variant in args.variants.split(","):
        seconds, k, extra = VARIANTS[variant](bench, iterations)
        per_epoch = seconds / iterations * ipe / k
        images = iterations * args.batch_size * k / seconds
        variants[variant] = {
            "members": k,
            "timed_iterations": iterations,
            "seconds_per_epoch_per_ticket": per_epoch,
            "seconds_per_level_per_ticket": per_epoch * level_epochs,
            "images_per_second": images,
            "fraction_of_fp32_peak": images * flops / peak if peak else None,
            **extra,
        }
        print(
            f"{args.model:14s} {variant:16s} K={k:<4d} {per_epoch:9.4f} s/epoch/ticket "
            f"{per_epoch * level_epochs:9.3f} s/level/ticket {images:12.0f} images/s",
            flush=True,
        )
    plain = variants.get("plain_eager", {}).get("seconds_per_level_per_ticket")
    ratios = {
        f"{v}_vs_plain_eager": plain / r["seconds_per_level_per_ticket"]
        for v, r in variants.items()
        if plain and v != "plain_eager"
    }
    checks = {}
    if "cohort_eager" in variants and "cohort_compiled" in variants:
        checks["cohort_compiled_same_accuracy"] = same_accuracy(
            variants["cohort_eager"]["test_accuracy"], variants["cohort_compiled"]["test_accuracy"]
        )
        checks["cohort_compiled_without_fallback"] = (
            variants["cohort_compiled"]["compile_fallback"] is None
        )
    out = Path(args.json)
    result = load_json(out) if out.is_file() else {}
    result.update(
        {
            "device": name,
            "device_type": device.type,
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "threads": torch.get_num_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "date": time.strftime("%Y-%m-%d"),
            "peak_fp32_flops": peak,
        }
    )
    result.setdefault("models", {})[args.model] = {
        "data": args.data,
        "train_size": len(data.y_train),
        "batch_size": args.batch_size,
        "level_epochs": level_epochs,
        "cohort": members,
        "flops_per_image": flops,
        "variants": variants,
        "ratios": ratios,
        "checks": checks,
    }
    save_json(out, result)
    for check, passed in checks.items():
        print(f"{args.model:14s} check {check}: {'ok' if passed else 'FAILED'}")
    if not all(checks.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
