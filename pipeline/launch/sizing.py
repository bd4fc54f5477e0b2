"""Choosing the device and the cohort size K."""

from __future__ import annotations

import torch

from pipeline.config import LauncherConfig
from pipeline.models.members import build_plain

CPU_COHORT = 16  # measured on 2 cores: the per-run speed-up flattens out beyond this
MAX_COHORT = 256
MEMORY_SHARE = 0.6  # of free GPU memory; leaves room for the allocator's fragmentation


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"launcher.device={name} but no CUDA device is visible")
    return device


def member_bytes(model: str, input_shape: tuple[int, ...], num_classes: int,
                 batch_size: int) -> int:
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


def cohort_size(launcher: LauncherConfig, model: str, input_shape: tuple[int, ...],
                num_classes: int, batch_size: int) -> int:
    """launcher.cohort_size if set; else as many members as fit the GPU the tasks will get
    (launcher.gpu_memory_gb when the tasks run elsewhere, else this machine's free GPU
    memory); else the CPU default."""
    if launcher.cohort_size:
        return launcher.cohort_size
    if launcher.gpu_memory_gb > 0:
        free = launcher.gpu_memory_gb * 1e9
    elif resolve_device(launcher.device).type == "cuda":
        free, _total = torch.cuda.mem_get_info(resolve_device(launcher.device))
    else:
        return CPU_COHORT
    need = member_bytes(model, input_shape, num_classes, batch_size)
    return max(1, min(MAX_COHORT, int(MEMORY_SHARE * free // need)))
