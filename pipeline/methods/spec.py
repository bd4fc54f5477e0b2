"""What a pruning method declares about itself: `MethodSpec`, one per file of this package.

A spec carries everything the rest of the pipeline needs to know about a method: how it
builds a level's mask, whether it needs the trained dense network, which shared keys
(`prune.scope`, `prune.retrain`) it reads, its own options (typed, with defaults and help,
added to `prune.*` and hashed into its runs' ids only), and its own checks. Validation,
run identity, the config schema and `lth config` all read the specs; none of them names a
method.

This module imports neither torch nor the rest of the pipeline: the CLI reads specs to
answer at once, and each method imports its heavy dependencies inside `build`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.config import Config
    from pipeline.prune.context import Masks, PruneContext

RETRAIN_MODES = ("rewind", "lr_rewind", "finetune")  # prune.retrain
SCOPES = ("global", "layerwise")  # prune.scope, for methods that rank by magnitude


@dataclass(frozen=True)
class Option:
    """A method's own config key, `prune.<name>`."""

    name: str
    type: Any  # a type OmegaConf understands: str, int, float, bool, list[str], X | None
    default: Any
    help: str

    def default_value(self) -> Any:
        """A fresh copy of the default (lists are mutable)."""
        return list(self.default) if isinstance(self.default, list | tuple) else self.default


@dataclass(frozen=True)
class MethodSpec:
    name: str
    summary: str  # one line: what level L's mask is
    build: Callable[[PruneContext], Masks]
    uses_dense: bool = False  # needs the trained dense network (level 0); others skip it
    ranks_by_magnitude: bool = False  # reads prune.scope (global or layerwise ranking)
    retrain: tuple[str, ...] = RETRAIN_MODES  # the prune.retrain modes it supports
    # the trainer moves its masks during training (dynamic sparse training, grown by the rule
    # of pipeline.prune.dynamic.GROWERS named like the method); its mask.pt is the final mask
    dynamic: bool = False
    options: tuple[Option, ...] = ()
    # extra checks of a composed config using this method; raise pipeline.errors.ConfigError
    check: Callable[[Config], None] | None = None
    paper: str = ""  # where the method comes from, for docs and `lth config`
    option_names: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "option_names", frozenset(o.name for o in self.options))
