"""Pruning at initialization: SNIP, GraSP, SynFlow, and random masks with ERK, uniform or
Su et al.'s layer densities; see docs/PRUNING.md for the definitions. Each is a pruning
method in `pipeline/methods/`."""
