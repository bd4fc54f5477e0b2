"""Pruning at initialization: SNIP, GraSP, SynFlow, and random masks with ERK, uniform or
Su et al.'s layer densities. Importing this package registers them in METHODS; see
docs/PRUNING.md for the definitions."""

from pipeline.prune.pai import grasp, ratios, snip, synflow  # noqa: F401  (registers methods)
from pipeline.prune.pai.profile import PROFILES, proportional_densities, random_with_profile

__all__ = ["PROFILES", "proportional_densities", "random_with_profile"]
