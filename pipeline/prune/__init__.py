"""Masks, pruning methods and controls."""

from pipeline.prune import pai  # noqa: F401
from pipeline.prune.controls import CONTROLS
from pipeline.prune.methods import METHODS, PruneContext

__all__ = ["CONTROLS", "METHODS", "PruneContext"]

# Methods defined outside this package register on import (after METHODS exists).
from pipeline import prior  # noqa: E402, F401
