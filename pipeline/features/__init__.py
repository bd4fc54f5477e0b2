"""Features of sparse subnetworks: statistical, structural, topological, stability.

Entry points: `compute_level_features` (one network level, given as a list of
`LayerView`) and `compute_pair_features` (two masks of one network). `RENAMED` maps
feature names of older stores to their current names.
"""

from pipeline.features.catalogue import compute_level_features, compute_pair_features
from pipeline.features.graph import LayerView
from pipeline.features.reachability import RENAMED

__all__ = ["RENAMED", "LayerView", "compute_level_features", "compute_pair_features"]
