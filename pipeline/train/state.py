"""Per-member optimizer state: sliced out of, and stacked into, a cohort optimizer."""

from __future__ import annotations

import torch

from pipeline.models.members import member_slice


def member_optimizer_state(state: dict, members: int, index: int) -> dict:
    return {
        "state": {
            key: {
                name: member_slice(value, members, index).clone()
                if torch.is_tensor(value)
                else value
                for name, value in slot.items()
            }
            for key, slot in state["state"].items()
        },
        "param_groups": state["param_groups"],
    }


def stack_optimizer_states(states: list[dict]) -> dict:
    first = states[0]
    stacked = {}
    for key, slot in first["state"].items():
        stacked[key] = {
            name: torch.cat([s["state"][key][name] for s in states])
            if torch.is_tensor(value) and value.dim() > 0
            else value
            for name, value in slot.items()
        }
    return {"state": stacked, "param_groups": first["param_groups"]}


def portable_groups(groups: list[dict]) -> list[dict]:
    """Param groups as an eager optimizer on any device reads them: a tensor learning rate
    as a float, no device-resident step counter."""
    return [
        {
            **group,
            "lr": float(group["lr"]),
            **({"capturable": False} if "capturable" in group else {}),
        }
        for group in groups
    ]


@torch.no_grad()
def load_state_in_place(optimizer: torch.optim.Optimizer, stacked: dict | None) -> None:
    """Overwrite an optimizer's existing state tensors: with `stacked` (a state_dict's "state"
    part), or with zeros when None. Zeroed moments, momentum buffers and step counters are
    exactly a fresh optimizer's, so a primed optimizer (every state tensor already there)
    serves a new level with the same tensors, which compiled graphs depend on."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for index, param in enumerate(params):
        for name, value in optimizer.state[param].items():
            if not torch.is_tensor(value):
                continue
            if stacked is None:
                value.zero_()
            else:
                value.copy_(stacked[index][name])
