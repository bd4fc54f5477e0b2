"""Masks, pruning methods and controls."""

from pipeline.prune.controls import CONTROLS
from pipeline.prune.methods import METHODS, PruneContext

__all__ = ["CONTROLS", "METHODS", "PruneContext"]
