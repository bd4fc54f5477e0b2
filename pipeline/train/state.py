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
