"""Spectra of a layer's biadjacency matrices and the Ramanujan bound.

The biadjacency matrix B is ``(out_units, in_units)``: the edge multiplicities of
the mask (0/1 for a linear layer, surviving kernel entries for a conv), or the
edge weights of |w_final| (L1 of surviving kernel entries). The bipartite graph's
adjacency eigenvalues are ``+-sigma_i(B)``, so sigma_1 is its largest eigenvalue
and sigma_2 its second largest (0 when B has a single row or column).
"""

import numpy as np

from pipeline.features.graph import LayerView, edge_counts, edge_weights
from pipeline.features.registry import layer_feature


def top_singular_values(matrix: np.ndarray) -> tuple[float, float]:
    """The two largest singular values, padded with 0."""
    sigma = np.linalg.svd(matrix, compute_uv=False)
    padded = np.concatenate([sigma, [0.0, 0.0]])
    return float(padded[0]), float(padded[1])


def ramanujan_bound(counts: np.ndarray) -> float:
    """``sqrt(d_in - 1) + sqrt(d_out - 1)`` for a bipartite (multi)graph.

    ``d_in = E / out_units`` is the average fan-in of the output units and
    ``d_out = E / in_units`` the average fan-out of the input units, E the number
    of surviving weights; a negative ``d - 1`` counts as 0. For a
    ``(d_in, d_out)``-biregular graph this bounds sigma_2 of a Ramanujan graph.
    """
    edges = counts.sum()
    d_in, d_out = edges / counts.shape[0], edges / counts.shape[1]
    return float(np.sqrt(max(d_in - 1, 0)) + np.sqrt(max(d_out - 1, 0)))


@layer_feature
def biadjacency_spectrum(layer: LayerView) -> dict[str, float]:
    """Top of the mask's and the trained weights' biadjacency spectra.

    mask_sv1, mask_sv2: the two largest singular values of the mask's B.
    mask_spectral_gap: mask_sv1 - mask_sv2.
    mask_ramanujan_bound: `ramanujan_bound` of the mask.
    mask_ramanujan_gap: mask_ramanujan_bound - mask_sv2 (>= 0: as good an
        expander as a Ramanujan graph of the same average degrees; cf. the
        "imperfect Ramanujan gap" of Hoang et al. 2023).
    abs_weight_sv1, abs_weight_sv2, abs_weight_spectral_gap: the same singular
        values and gap for B = edge weights of |w_final| (the weighted spectral
        gap of Hoang et al. 2023).
    """
    counts = edge_counts(layer)
    mask_sv1, mask_sv2 = top_singular_values(counts)
    bound = ramanujan_bound(counts)
    weight_sv1, weight_sv2 = top_singular_values(edge_weights(layer, layer.w_final))
    return {
        "mask_sv1": mask_sv1,
        "mask_sv2": mask_sv2,
        "mask_spectral_gap": mask_sv1 - mask_sv2,
        "mask_ramanujan_bound": bound,
        "mask_ramanujan_gap": bound - mask_sv2,
        "abs_weight_sv1": weight_sv1,
        "abs_weight_sv2": weight_sv2,
        "abs_weight_spectral_gap": weight_sv1 - weight_sv2,
    }
