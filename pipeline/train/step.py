"""One training step of a cohort, and the eager cohort that runs it.

The step is written once and runs either eagerly or under torch.compile
(pipeline.train.compiled). Member k's loss is its own batch mean; the cohort minimizes the
sum, so member k's gradient is exactly its own. Everything the step touches is a device
tensor, so it never waits for the device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pipeline.models.members import build_cohort
from pipeline.train.optimizers import build_optimizer

MaskPairs = list[tuple[torch.nn.Parameter, torch.Tensor]]


def member_losses(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, precision: torch.dtype | None
) -> torch.Tensor:
    """Each member's mean cross-entropy on its batch, [K] (x [K, B, ...], y [K, B])."""
    with torch.autocast(x.device.type, precision or torch.float32, enabled=precision is not None):
        logits = model(x)
    return (
        F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="none")
        .view(y.shape[0], -1)
        .mean(1)
    )


def cohort_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    masks: MaskPairs,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_sum: torch.Tensor,
    precision: torch.dtype | None,
) -> None:
    """Forward, loss, backward and update on a batch x [K, B, ...], y [K, B]; then re-apply the
    masks and add each member's loss to loss_sum [K]. `precision`: the autocast dtype or None."""
    per_member = member_losses(model, x, y, precision)
    optimizer.zero_grad(set_to_none=True)
    per_member.sum().backward()
    optimizer.step()
    with torch.no_grad():
        for param, mask in masks:
            param.mul_(mask)
        loss_sum.add_(per_member.detach())


def cohort_network(
    model: str,
    input_shape: tuple[int, ...],
    num_classes: int,
    members: int,
    device: torch.device,
    channels_last: bool,
) -> torch.nn.Module:
    network = build_cohort(model, input_shape, num_classes, members).to(device)
    if channels_last:
        network.to(memory_format=torch.channels_last)
    return network


class EagerCohort:
    """A fresh cohort network and optimizer for one level, stepped eagerly; the learning rate
    is a float set on the optimizer's groups. Only masked cohorts carry masks."""

    def __init__(self, plan, input_shape: tuple[int, ...], num_classes: int, members: int, device):
        self.model = cohort_network(
            plan.model, input_shape, num_classes, members, device, plan.channels_last
        )
        self.optimizer = build_optimizer(self.model.parameters(), plan.train, plan.optimizer_impl)
        self.loss_sum = torch.zeros(members, device=device)
        self.masks: MaskPairs = []

    def set_masks(self, masks: dict[str, torch.Tensor]) -> None:
        params = dict(self.model.named_parameters())
        self.masks = [(params[name], mask) for name, mask in masks.items()]

    def load_optimizer(self, state: dict | None) -> None:
        if state is not None:
            self.optimizer.load_state_dict(state)

    def set_lr(self, value: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = value

    def step(self, x: torch.Tensor, y: torch.Tensor, precision: torch.dtype | None) -> None:
        cohort_step(self.model, self.optimizer, self.masks, x, y, self.loss_sum, precision)
