"""Training compute in FLOPs, counted per layer from the masks.

Only the multiply-adds of the prunable layers count, 2 FLOPs each: per example, a linear
layer costs 2 * (kept weights) and a convolution 2 * (kept weights) * (output positions).
Biases, BatchNorm, activations, pooling and the optimizer's update are left out. A training
step costs its forward pass plus a backward pass counted as twice the forward (the
gradients with respect to the activations and to the weights each cost one forward's
multiply-adds): 3x the forward FLOPs per example, at the density actually trained.

A level's record (metrics.json) holds `train_flops`, what its own training spent, and
`mask_flops`, what its method spent building the mask (score or search steps): a method's
`build` appends its spend to `PruneContext.spent_flops`, and the driver keeps the sum
beside the mask (`mask_flops.json`), so a resumed level still knows it.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from pipeline.data.batches import iterations_per_epoch
from pipeline.io import load_json, save_json
from pipeline.models.kit import PRUNABLE_TYPES
from pipeline.models.members import build_plain
from pipeline.paths import LevelPaths
from pipeline.prune.masks import Masks


@lru_cache(maxsize=16)
def output_positions(model: str, input_shape: tuple[int, ...], num_classes: int) -> dict[str, int]:
    """Per prunable weight: the output positions each of its weights is used at per example
    (1 for a linear layer, the output's spatial size for a convolution)."""
    plain = build_plain(model, tuple(input_shape), num_classes).eval()
    positions: dict[str, int] = {}
    hooks = [
        module.register_forward_hook(
            lambda _m, _args, out, key=f"{name}.weight": positions.__setitem__(
                key, out[0, 0].numel() if out.dim() > 2 else 1
            )
        )
        for name, module in plain.named_modules()
        if isinstance(module, PRUNABLE_TYPES)
    ]
    with torch.no_grad():
        plain(torch.zeros(1, *input_shape))
    for hook in hooks:
        hook.remove()
    return positions


def forward_flops(masks: Masks, positions: dict[str, int]) -> int:
    """FLOPs of one example's forward pass through the kept weights."""
    return sum(2 * int(mask.sum()) * positions[name] for name, mask in masks.items())


def dense_forward_flops(shapes: dict[str, torch.Size], positions: dict[str, int]) -> int:
    return sum(2 * torch.Size(shape).numel() * positions[name] for name, shape in shapes.items())


def train_step_flops(masks: Masks, positions: dict[str, int]) -> int:
    """FLOPs of training on one example: forward plus a backward of twice the forward."""
    return 3 * forward_flops(masks, positions)


def score_step_flops(masks: Masks, positions: dict[str, int]) -> int:
    """FLOPs of one example's step that trains scores of frozen weights (GEM-MINER): forward
    and activation gradients through the kept weights, but the gradient of every weight's
    score (dL/dm = w * dL/dw_eff) is dense."""
    shapes = {name: mask.shape for name, mask in masks.items()}
    return 2 * forward_flops(masks, positions) + dense_forward_flops(shapes, positions)


def examples_seen(
    start: int, end: int, train_size: int, batch_size: int, drop_last: bool = False
) -> int:
    """Examples in iterations [start, end) of the schedule: full batches, except each epoch's
    last batch holds the remainder of the training set (when it is not dropped)."""
    per_epoch = iterations_per_epoch(train_size, batch_size, drop_last)
    last = batch_size if drop_last else train_size - (per_epoch - 1) * batch_size

    def before(iteration: int) -> int:  # examples in iterations [0, iteration)
        epochs, rest = divmod(iteration, per_epoch)
        return epochs * (batch_size * (per_epoch - 1) + last) + rest * batch_size

    return before(end) - before(start)


def save_mask_flops(level: LevelPaths, flops: int) -> None:
    save_json(level.mask_flops, {"mask_flops": int(flops)})


def load_mask_flops(level: LevelPaths) -> int:
    """What building the level's mask spent; 0 when its method reported nothing."""
    path = level.mask_flops
    return int(load_json(path)["mask_flops"]) if path.is_file() else 0
