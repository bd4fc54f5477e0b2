"""Per-member data order and augmentation, drawn on the device.

Every member of a cohort has its own order and augmentation draws, generated
from (seed, level, epoch) alone. So a member sees the same batches whether it
trains alone or in a cohort, and a run resumed mid-epoch regenerates exactly
the batches it would have seen.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from pipeline.data.tensors import TensorDataset

PAD = 4


def epoch_seed(seed: int, level: int, epoch: int) -> int:
    """A 63-bit seed mixing the run seed, the level and the epoch (SplitMix64 steps)."""
    value = (seed * 0x9E3779B97F4A7C15 + level * 0xBF58476D1CE4E5B9 + epoch) & (2**64 - 1)
    value ^= value >> 31
    value = (value * 0x94D049BB133111EB) & (2**64 - 1)
    return value >> 1


def iterations_per_epoch(train_size: int, batch_size: int, drop_last: bool = False) -> int:
    """Batches per epoch; with drop_last the final partial batch is never drawn."""
    return train_size // batch_size if drop_last else math.ceil(train_size / batch_size)


class EpochPlan:
    """The order and augmentation draws of one epoch for every member."""

    def __init__(
        self,
        seeds: list[int],
        level: int,
        epoch: int,
        train_size: int,
        augment: bool,
        device: torch.device,
    ):
        orders, crops, flips = [], [], []
        for seed in seeds:
            gen = torch.Generator().manual_seed(epoch_seed(seed, level, epoch))
            orders.append(torch.randperm(train_size, generator=gen))
            if augment:
                crops.append(torch.randint(0, 2 * PAD + 1, (train_size, 2), generator=gen))
                flips.append(torch.rand(train_size, generator=gen) < 0.5)
        self.order = torch.stack(orders).to(device)  # [K, N]
        self.crop = torch.stack(crops).to(device) if augment else None  # [K, N, 2]
        self.flip = torch.stack(flips).to(device) if augment else None  # [K, N]

    def batch(
        self, data: TensorDataset, index: int, batch_size: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs [K, B, *shape] and labels [K, B] of batch `index`."""
        rows = self.order[:, index * batch_size : (index + 1) * batch_size]
        x = data.x_train[rows]
        if self.crop is not None:
            k, b = rows.shape
            positions = slice(index * batch_size, index * batch_size + b)
            x = augment(
                x.flatten(0, 1),
                self.crop[:, positions].flatten(0, 1),
                self.flip[:, positions].flatten(0, 1),
            ).view(k, b, *x.shape[2:])
        return x, data.y_train[rows]


def augment(images: torch.Tensor, crop: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Random crop after zero padding by PAD, then horizontal flip, for [M, C, H, W] images.

    `crop` holds each image's (row, column) offset into the padded image, `flip` whether
    to mirror it.
    """
    _, _, height, width = images.shape
    padded = F.pad(images, (PAD, PAD, PAD, PAD))
    rows = crop[:, :1] + torch.arange(height, device=images.device)  # [M, H]
    cols = crop[:, 1:] + torch.arange(width, device=images.device)  # [M, W]
    picked = torch.arange(images.shape[0], device=images.device)[:, None, None]
    out = padded[picked, :, rows[:, :, None], cols[:, None, :]]  # [M, H, W, C]
    out = out.permute(0, 3, 1, 2)
    return torch.where(flip[:, None, None, None], out.flip(-1), out)
