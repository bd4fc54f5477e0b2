"""Run identity: a short hash of the scientific config with default values omitted.

Omitting defaults means a new option with a no-op default leaves every old id
unchanged; bookkeeping fields (pipeline.config.BOOKKEEPING) never enter the hash,
and neither do another method's options (pipeline.config.METHOD_OPTIONS).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from pipeline.config import BOOKKEEPING, METHOD_OPTIONS, Config
from pipeline.steps import canonical_step

ID_LENGTH = 12


# Step strings, hashed in one spelling so "0ep" and "0it" are the same run.
STEP_FIELDS = {
    ("train", "duration"),
    ("train", "warmup"),
    ("train", "eval_every"),
    ("train", "milestones"),
    ("prune", "rewind"),
}


def _non_default(
    value: Any, default: Any, path: tuple[str, ...], ignored: frozenset[tuple[str, ...]]
) -> dict[str, Any] | None:
    if path in ignored or any(path[: len(skip)] == skip for skip in BOOKKEEPING):
        return None
    if path in STEP_FIELDS:
        value = (
            [canonical_step(v) for v in value] if isinstance(value, list) else canonical_step(value)
        )
    if dataclasses.is_dataclass(value):
        out = {}
        for f in dataclasses.fields(value):
            sub = _non_default(
                getattr(value, f.name), getattr(default, f.name), (*path, f.name), ignored
            )
            if sub is not None:
                out[f.name] = sub
        return out or None
    if value == default:
        return None
    return value


def scientific_dict(cfg: Config) -> dict[str, Any]:
    """The fields that define what a run computes, minus those equal to their defaults."""
    ignored = frozenset(
        p for p, methods in METHOD_OPTIONS.items() if cfg.prune.method not in methods
    )
    return _non_default(cfg, Config(), (), ignored) or {}


def run_id(cfg: Config) -> str:
    text = json.dumps(scientific_dict(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:ID_LENGTH]


def source_config(cfg: Config) -> Config:
    """A control's source: the same run without the control (and trained at every level)."""
    return dataclasses.replace(
        cfg, prune=dataclasses.replace(cfg.prune, control="none", train_levels=None)
    )
