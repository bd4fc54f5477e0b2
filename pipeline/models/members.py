"""Build plain models and cohorts, and move members between them.

Every cohort tensor is [K * n, ...], so member k's slice has exactly the shape of
the plain model's tensor of the same name; scalars (BatchNorm's step counter)
are shared.
"""

from __future__ import annotations

import torch
from torch import nn

from pipeline.models.kit import PRUNABLE_TYPES, CohortKit, PlainKit, initialize
from pipeline.models.registry import model_spec

StateDict = dict[str, torch.Tensor]


def build_plain(name: str, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return model_spec(name).build(PlainKit(), tuple(input_shape), num_classes)


def build_cohort(name: str, input_shape: tuple[int, ...], num_classes: int, members: int):
    return model_spec(name).build(CohortKit(members), tuple(input_shape), num_classes)


def initial_state(
    name: str, input_shape: tuple[int, ...], num_classes: int, seed: int
) -> StateDict:
    """The plain model's initial weights for `seed`: the same whatever cohort it joins."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_plain(name, input_shape, num_classes)
        initialize(model)
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def member_slice(tensor: torch.Tensor, members: int, index: int) -> torch.Tensor:
    if tensor.dim() == 0:
        return tensor
    return tensor.reshape(members, tensor.shape[0] // members, *tensor.shape[1:])[index]


def member_state(state: StateDict, members: int, index: int) -> StateDict:
    return {key: member_slice(value, members, index).clone() for key, value in state.items()}


def stack_states(states: list[StateDict]) -> StateDict:
    first = states[0]
    return {
        key: first[key].clone() if first[key].dim() == 0 else torch.cat([s[key] for s in states])
        for key in first
    }


def prunable_names(model: nn.Module) -> list[str]:
    """Weights of linear and conv layers, in registration order; the last is the output layer."""
    return [
        f"{name}.weight"
        for name, module in model.named_modules()
        if isinstance(module, PRUNABLE_TYPES)
    ]
