"""Choosing the device and the cohort size K."""

from __future__ import annotations

import time
from functools import lru_cache

import torch
import torch.nn.functional as F

from pipeline.config import LauncherConfig
from pipeline.errors import ConfigError
from pipeline.models.members import build_cohort, build_plain

CPU_CANDIDATES = (1, 4, 16)  # cohort sizes the CPU probe times
PROBE_STEPS = 6
MAX_COHORT = 256
MEMORY_SHARE = 0.6  # of free GPU memory; leaves room for the allocator's fragmentation


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("launcher.device", f"{name}: no CUDA GPU is visible here")
    return device


def member_bytes(
    model: str, input_shape: tuple[int, ...], num_classes: int, batch_size: int
) -> int:
    """Bytes one member needs: fp32 weights, grads and two optimizer slots, plus the
    activations of one batch kept for backward (counted by a forward pass on the CPU)."""
    net = build_plain(model, input_shape, num_classes)
    params = sum(p.numel() for p in net.parameters())
    activations = 0

    def count(_module, _inputs, output):
        nonlocal activations
        activations += output.numel()

    hooks = [m.register_forward_hook(count) for m in net.modules() if not list(m.children())]
    with torch.no_grad():
        net(torch.zeros(1, *input_shape))
    for hook in hooks:
        hook.remove()
    return 4 * (4 * params + 2 * activations * batch_size)


@lru_cache(maxsize=32)
def fastest_on_cpu(
    model: str, input_shape: tuple[int, ...], num_classes: int, batch_size: int, threads: int
) -> int:
    """The cohort size with the most training steps per run per second on this CPU,
    timed over a few SGD steps on random data. Small nets are bound by per-step
    overhead and gain from large cohorts; large ones are bound by arithmetic and do not
    (benchmarks/README.md). Cohort membership never changes a run's results."""
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        per_run = {
            k: _step_seconds(model, input_shape, num_classes, batch_size, k) / k
            for k in CPU_CANDIDATES
        }
    finally:
        torch.set_num_threads(previous)
    return min(per_run, key=per_run.get)


def _step_seconds(
    model: str, input_shape, num_classes: int, batch_size: int, members: int
) -> float:
    net = build_cohort(model, input_shape, num_classes, members)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.05)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(members, batch_size, *input_shape)
    y = torch.randint(0, num_classes, (members * batch_size,))
    best = float("inf")
    for step in range(PROBE_STEPS + 2):
        began = time.perf_counter()
        loss = F.cross_entropy(net(x).flatten(0, 1), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= 2:  # the first steps warm up allocators and caches
            best = min(best, time.perf_counter() - began)
    return best


def cohort_size(
    launcher: LauncherConfig,
    model: str,
    input_shape: tuple[int, ...],
    num_classes: int,
    batch_size: int,
) -> int:
    """launcher.cohort_size if set; else as many members as fit the GPU the tasks will get
    (launcher.gpu_memory_gb when the tasks run elsewhere, else this machine's free GPU
    memory); else the CPU default."""
    if launcher.cohort_size:
        return launcher.cohort_size
    if launcher.gpu_memory_gb > 0:
        free = launcher.gpu_memory_gb * 1e9
    elif launcher.name != "local" and launcher.device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                "launcher.gpu_memory_gb",
                "the tasks train on GPUs this machine does not have: set the memory of one "
                "node's GPU (launcher.gpu_memory_gb=80) or launcher.cohort_size",
            )
        free, _total = torch.cuda.mem_get_info(resolve_device(launcher.device))
    elif resolve_device(launcher.device).type == "cuda":
        free, _total = torch.cuda.mem_get_info(resolve_device(launcher.device))
    else:
        return fastest_on_cpu(model, tuple(input_shape), num_classes, batch_size, launcher.threads)
    need = member_bytes(model, input_shape, num_classes, batch_size)
    return max(1, min(MAX_COHORT, int(MEMORY_SHARE * free // need)))
