"""Stability features: how much two masks of the same network agree."""

import numpy as np

from pipeline.features.graph import NETWORK
from pipeline.features.registry import Row


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """|a & b| / |a | b| of two boolean masks; NaN if both are empty."""
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else np.nan


def chance_iou(d_a: float, d_b: float) -> float:
    """IoU expected by chance for independent masks of densities d_a and d_b.

    ``d_a d_b / (d_a + d_b - d_a d_b)`` (expected intersection over expected
    union); ``d / (2 - d)`` for equal densities. NaN if both are 0.
    """
    union = d_a + d_b - d_a * d_b
    return d_a * d_b / union if union else np.nan


def mask_hamming(a: np.ndarray, b: np.ndarray) -> float:
    """Normalized Hamming distance: fraction of positions where a and b differ."""
    return float(np.mean(a != b))


def _pair_rows(layer: str, a: np.ndarray, b: np.ndarray) -> list[Row]:
    return [
        (layer, "mask_iou", mask_iou(a, b)),
        (layer, "mask_iou_chance", chance_iou(float(a.mean()), float(b.mean()))),
        (layer, "mask_hamming", mask_hamming(a, b)),
    ]


def compute_pair_features(
    masks_a: dict[str, np.ndarray], masks_b: dict[str, np.ndarray]
) -> list[Row]:
    """Rows ``(layer, feature, value)`` comparing two masks of the same network.

    For every layer (in the order of ``masks_a``) and pooled over all weights
    (``"*"``): mask_iou (`mask_iou`), mask_iou_chance (`chance_iou` of the two
    densities) and mask_hamming (`mask_hamming`). The two dicts must have the
    same layers with the same shapes.
    """
    if masks_a.keys() != masks_b.keys():
        raise ValueError("the two masks cover different layers")
    rows: list[Row] = []
    for name, a in masks_a.items():
        b = masks_b[name]
        if a.shape != b.shape:
            raise ValueError(f"{name}: mask shapes {a.shape} and {b.shape} differ")
        rows += _pair_rows(name, a.astype(bool), b.astype(bool))
    pooled_a = np.concatenate([m.astype(bool).ravel() for m in masks_a.values()])
    pooled_b = np.concatenate([masks_b[name].astype(bool).ravel() for name in masks_a])
    return rows + _pair_rows(NETWORK, pooled_a, pooled_b)
