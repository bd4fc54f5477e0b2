"""Training throughput: a plain single-model loop, the pipeline with K=1, and a K-run cohort.

All three train the same architecture on the same data in this one process, so
the ratios hold on a noisy machine. Per-model seconds per epoch are measured over
`--iterations` steps and scaled to an epoch; the JSON result names the device.

    OMP_NUM_THREADS=1 python benchmarks/throughput.py --model lenet_300_100 \
        --data synthetic_mnist --cohort 16 --iterations 200
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torch.utils.data import TensorDataset as LoaderDataset

from pipeline.config import TrainConfig
from pipeline.data import load_dataset
from pipeline.data.batches import iterations_per_epoch
from pipeline.launch.sizing import resolve_device
from pipeline.models import build_plain, initial_state
from pipeline.steps import Schedule
from pipeline.train.schedule import learning_rate
from pipeline.train.trainer import CohortTrainer, LevelPlan, Member, evaluate

# Dense peak FLOP/s by device name fragment (fp32 non-tensor-core, per vendor sheets).
PEAK_FP32 = {"H100": 67e12, "H200": 67e12, "A100": 19.5e12}


def flops_per_image(model: torch.nn.Module, shape: tuple[int, ...]) -> float:
    """Forward multiply-adds x 2 (FLOPs) x 3 (forward + backward), counted by hooks."""
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, torch.nn.Linear):
            total += module.weight.numel()
        elif isinstance(module, (torch.nn.Conv1d, torch.nn.Conv2d)):
            total += module.weight.numel() * math.prod(output.shape[2:])

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    for hook in hooks:
        hook.remove()
    return 6.0 * total


def plain_loop(name, data, train, iterations, device) -> float:
    """The common way: a DataLoader over CPU tensors, one nn.Module, one optimizer."""
    model = build_plain(name, data.input_shape, data.num_classes).to(device)
    model.load_state_dict(initial_state(name, data.input_shape, data.num_classes, 0))
    opt = torch.optim.SGD(model.parameters(), lr=train.lr, momentum=train.momentum)
    loader = DataLoader(
        LoaderDataset(data.x_train, data.y_train),
        batch_size=train.batch_size,
        shuffle=True,
        drop_last=True,
    )
    done, began = 0, time.perf_counter()
    while done < iterations:
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
            if done == iterations:
                break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - began


def cohort_loop(name, data, train, iterations, members, device) -> float:
    """Training seconds of the pipeline's loop (its two test-set evaluations subtracted)."""
    ipe = iterations_per_epoch(len(data.y_train), train.batch_size)
    plan = LevelPlan(
        name, train, 0, 0, iterations, learning_rate(train, Schedule.resolve(train, ipe))
    )
    start = [
        Member(s, initial_state(name, data.input_shape, data.num_classes, s))
        for s in range(members)
    ]
    trainer = CohortTrainer(plan, start, data, device)
    began = time.perf_counter()
    trainer.run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    total = time.perf_counter() - began
    began = time.perf_counter()
    evaluate(trainer.model, data, members)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return total - 2 * (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="lenet_300_100")
    parser.add_argument("--data", default="synthetic_mnist")
    parser.add_argument("--cohort", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()

    device = resolve_device(args.device)
    data = load_dataset(args.data)
    gpu_data = data.to(device)
    train = TrainConfig(optimizer="sgd", lr=0.05, momentum=0.9, batch_size=args.batch_size)
    ipe = iterations_per_epoch(len(data.y_train), args.batch_size)
    warm = max(5, args.iterations // 10)
    plain_loop(args.model, data, train, warm, device)
    cohort_loop(args.model, gpu_data, train, warm, args.cohort, device)

    seconds = {
        "plain_dataloader": plain_loop(args.model, data, train, args.iterations, device),
        "pipeline_k1": cohort_loop(args.model, gpu_data, train, args.iterations, 1, device),
        "pipeline_cohort": cohort_loop(
            args.model, gpu_data, train, args.iterations, args.cohort, device
        )
        / args.cohort,
    }
    per_epoch = {k: v / args.iterations * ipe for k, v in seconds.items()}
    images = {k: args.iterations * args.batch_size / v for k, v in seconds.items()}
    model = build_plain(args.model, data.input_shape, data.num_classes)
    flops = flops_per_image(model, data.input_shape)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    peak = next((p for key, p in PEAK_FP32.items() if key in name), None)
    result = {
        "device": name or platform.machine(),
        "device_type": device.type,
        "threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "model": args.model,
        "data": args.data,
        "train_size": len(data.y_train),
        "batch_size": args.batch_size,
        "cohort": args.cohort,
        "iterations": args.iterations,
        "per_model_seconds_per_epoch": per_epoch,
        "images_per_second_per_model": images,
        "speedup_cohort_vs_plain": seconds["plain_dataloader"] / seconds["pipeline_cohort"],
        "speedup_cohort_vs_k1": seconds["pipeline_k1"] / seconds["pipeline_cohort"],
        "flops_per_image": flops,
        "fraction_of_fp32_peak": (
            images["pipeline_cohort"] * args.cohort * flops / peak if peak else None
        ),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }
    for key, value in per_epoch.items():
        print(f"{key:18s} {value:9.3f} s/epoch per model  {images[key]:12.0f} images/s per model")
    print(
        f"cohort of {args.cohort} vs one at a time (pipeline K=1): "
        f"{result['speedup_cohort_vs_k1']:.2f}x per run; vs plain DataLoader loop: "
        f"{result['speedup_cohort_vs_plain']:.2f}x"
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = f"{args.model}-{device.type}-k{args.cohort}"
    (out / f"throughput-{tag}.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
