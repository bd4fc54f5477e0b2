"""Masks, the density ladder, controls, and what pruning methods see (`PruneContext`).
The methods themselves are in `pipeline/methods/`, one file each."""
