"""Statistical features of one layer's weights: survivors against the whole layer.

*Survivors* are the weights the mask keeps. ``w_init`` is the rewind point
(unmasked), ``w_final`` the trained weights. All moments are population moments
(``ddof=0``). A feature that is undefined (no survivors, zero variance) is NaN.
"""

import numpy as np

from pipeline.features.graph import LayerView
from pipeline.features.registry import layer_feature


def moment_stats(x: np.ndarray) -> dict[str, float]:
    """mean, std, excess kurtosis and bimodality coefficient of a sample.

    With central moments m_k: std = sqrt(m2); skewness g = m3 / m2^1.5;
    kurtosis = m4 / m2^2 - 3 (excess, 0 for a normal); bimodality coefficient
    b = (g^2 + 1) / (m4 / m2^2) (the large-sample form of SAS's coefficient;
    5/9 for a uniform distribution, above 5/9 suggests two modes).
    """
    if x.size == 0:
        return {"mean": np.nan, "std": np.nan, "kurtosis": np.nan, "bimodality": np.nan}
    x = x.astype(np.float64)
    centred = x - x.mean()
    m2, m3, m4 = (np.mean(centred**k) for k in (2, 3, 4))
    stats = {"mean": x.mean(), "std": np.sqrt(m2), "kurtosis": np.nan, "bimodality": np.nan}
    if m2 > 0:
        pearson = m4 / m2**2
        stats["kurtosis"] = pearson - 3
        stats["bimodality"] = ((m3 / m2**1.5) ** 2 + 1) / pearson
    return stats


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic ``sup_x |F_a(x) - F_b(x)|``."""
    if a.size == 0 or b.size == 0:
        return np.nan
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / a.size
    cdf_b = np.searchsorted(b, grid, side="right") / b.size
    return float(np.abs(cdf_a - cdf_b).max())


@layer_feature
def density(layer: LayerView) -> dict[str, float]:
    """density: surviving weights / weights in the layer."""
    return {"density": float(layer.mask.mean())}


@layer_feature
def magnitude_distribution(layer: LayerView) -> dict[str, float]:
    """Distribution of |w| for survivors and for the whole layer.

    abs_init_{mean,std,kurtosis,bimodality}_{survivors,all}: `moment_stats` of
        |w_init| over the survivors, and over every weight of the layer.
    abs_final_{mean,std,kurtosis,bimodality}_survivors: the same for |w_final|
        over the survivors (the whole trained layer is those plus zeros).
    ks_abs_init_survivors_vs_all: `ks_distance` between |w_init| of the survivors
        and |w_init| of the whole layer.
    """
    abs_init = np.abs(layer.w_init.astype(np.float64))
    survivors = abs_init[layer.mask]
    samples = {
        "abs_init_{}_survivors": survivors,
        "abs_init_{}_all": abs_init.ravel(),
        "abs_final_{}_survivors": np.abs(layer.w_final[layer.mask]),
    }
    out = {}
    for pattern, sample in samples.items():
        for stat, value in moment_stats(sample).items():
            out[pattern.format(stat)] = float(value)
    out["ks_abs_init_survivors_vs_all"] = ks_distance(survivors, abs_init.ravel())
    return out


WEIGHT_CHANGE = (
    "movement_abs_mean_survivors",
    "sign_agreement_survivors",
    "update_l2_on_mask",
    "update_l2_on_mask_relative",
)


@layer_feature
def weight_change(layer: LayerView) -> dict[str, float]:
    """How the survivors moved from w_init (w_0) to w_final (w_T).

    movement_abs_mean_survivors: mean over survivors of |w_T| - |w_0|.
    sign_agreement_survivors: fraction of survivors with sign(w_0) == sign(w_T).
    update_l2_on_mask: ||(w_T - w_0) * mask||_2.
    update_l2_on_mask_relative: update_l2_on_mask / ||w_0 * mask||_2.
    """
    w0 = layer.w_init[layer.mask].astype(np.float64)
    wt = layer.w_final[layer.mask].astype(np.float64)
    if w0.size == 0:
        return dict.fromkeys(WEIGHT_CHANGE, np.nan)
    update = float(np.linalg.norm(wt - w0))
    start = float(np.linalg.norm(w0))
    values = (
        float(np.mean(np.abs(wt) - np.abs(w0))),
        float(np.mean(np.sign(w0) == np.sign(wt))),
        update,
        update / start if start > 0 else np.nan,
    )
    return dict(zip(WEIGHT_CHANGE, values, strict=True))
