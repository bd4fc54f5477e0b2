"""Run identity: a short hash of the scientific config with default values omitted.

Omitting defaults means a new option with a no-op default leaves every old id
unchanged; bookkeeping fields (pipeline.config.BOOKKEEPING) never enter the hash,
and neither do another method's options (pipeline.config.METHOD_OPTIONS).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from pathlib import Path
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


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


@functools.cache
def _default() -> Config:
    """The default config, built once (read, never changed)."""
    return Config()


def _skipped(path: tuple[str, ...], ignored: frozenset[tuple[str, ...]]) -> bool:
    # bookkeeping entries name a field or a whole group (one or two keys deep)
    return path in ignored or path in BOOKKEEPING or path[:1] in BOOKKEEPING


def _non_default(
    value: Any, default: Any, path: tuple[str, ...], ignored: frozenset[tuple[str, ...]]
) -> dict[str, Any] | None:
    if _skipped(path, ignored):
        return None
    if path in STEP_FIELDS:
        value = (
            [canonical_step(v) for v in value] if isinstance(value, list) else canonical_step(value)
        )
    if hasattr(type(value), "__dataclass_fields__"):
        out = {}
        for name in _field_names(type(value)):
            sub = _non_default(getattr(value, name), getattr(default, name), (*path, name), ignored)
            if sub is not None:
                out[name] = sub
        return out or None
    if value == default:
        return None
    return value


def scientific_dict(cfg: Config) -> dict[str, Any]:
    """The fields that define what a run computes, minus those equal to their defaults."""
    ignored = frozenset(
        p for p, methods in METHOD_OPTIONS.items() if cfg.prune.method not in methods
    )
    return _non_default(cfg, _default(), (), ignored) or {}


def run_id(cfg: Config) -> str:
    text = json.dumps(scientific_dict(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:ID_LENGTH]


def source_config(cfg: Config) -> Config:
    """A control's source: the same run without the control (and trained at every level)."""
    return dataclasses.replace(
        cfg, prune=dataclasses.replace(cfg.prune, control="none", train_levels=None)
    )


@functools.cache
def identity_stamp() -> str:
    """A hash of the code that defines run ids (this module, the config schema, the step
    spellings and every method spec): equal stamps hash equal configs to equal ids."""
    here = Path(__file__).resolve().parent
    sources = [here / "identity.py", here / "config.py", here / "steps.py"]
    sources += sorted((here / "methods").glob("*.py"))
    digest = hashlib.sha256()
    for source in sources:
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()
