"""Where a conv layer's surviving weights sit inside its kernels.

Magnitude pruning of conv nets is known to keep kernel centres more often than
borders; these features say whether a ticket does, so a mask prior can copy it.
The *keep rate* of kernel position p (an index into the k or k x k kernel) is
``r_p = mean over (out, in) of mask[out, in, p]``; the layer's density is the
mean of ``r_p`` over positions.

Regions of a kernel with side lengths ``k_a``: position p is in the *centre* if
on every axis ``p_a`` is a middle index, ``floor((k_a - 1) / 2)`` or
``ceil((k_a - 1) / 2)`` (one position for odd sides, 2 or 2 x 2 for even
ones); it is on the *border* if on some axis ``p_a`` is 0 or ``k_a - 1`` and it
is not in the centre. A 3 x 3 kernel has 1 centre and 8 border positions, a
5 x 5 kernel 1 and 16 (the ring between them is neither), a 1-D kernel of 3 or
5 the middle and its two ends; 1, 2 and 2 x 2 kernels have no border. The
region's keep rate is the mean of ``r_p`` over its positions.
"""

import numpy as np

from pipeline.features.graph import LayerView
from pipeline.features.registry import layer_feature


def kernel_regions(kernel: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Boolean centre and border masks over the kernel positions (module docstring)."""
    index = np.indices(kernel)
    lengths = np.array(kernel).reshape(-1, *(1,) * len(kernel))
    middle = (index == (lengths - 1) // 2) | (index == lengths // 2)
    centre = middle.all(axis=0)
    edge = ((index == 0) | (index == lengths - 1)).any(axis=0)
    return centre, edge & ~centre


def normalized_entropy(counts: np.ndarray) -> float:
    """Shannon entropy of ``counts / counts.sum()`` divided by ``log(counts.size)``.

    In [0, 1]: 1 for equal counts, 0 when one entry holds everything. NaN for a
    single entry or an all-zero vector.
    """
    counts = np.asarray(counts, dtype=np.float64).ravel()
    total = counts.sum()
    if counts.size < 2 or total <= 0:
        return np.nan
    p = counts[counts > 0] / total
    return float(-(p * np.log(p)).sum() / np.log(counts.size))


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else np.nan


@layer_feature
def kernel_positions(layer: LayerView) -> dict[str, float]:
    """Spatial pattern of the surviving kernel positions of a conv layer.

    conv_centre_keep_rel_density: the centre's keep rate over the layer's
        density; 1 when positions are kept alike, above 1 when centres are
        favoured. NaN when the layer is empty.
    conv_border_keep_rel_centre: the border's keep rate over the centre's;
        below 1 when borders are pruned harder. NaN when the kernel has no
        border or the centre keep rate is 0.
    conv_position_entropy_normalized: `normalized_entropy` of the surviving
        weights per kernel position; 1 when every position keeps as many, 0
        when all survivors sit at one position. NaN for a 1 x 1 kernel or an
        empty layer. No rows for linear layers.
    """
    if layer.kind != "conv":
        return {}
    kernel = layer.mask.shape[2:]
    rates = layer.mask.reshape(-1, *kernel).mean(axis=0, dtype=np.float64)
    centre, border = kernel_regions(kernel)
    centre_rate = float(rates[centre].mean())
    border_rate = float(rates[border].mean()) if border.any() else np.nan
    return {
        "conv_centre_keep_rel_density": _ratio(centre_rate, float(rates.mean())),
        "conv_border_keep_rel_centre": _ratio(border_rate, centre_rate),
        "conv_position_entropy_normalized": normalized_entropy(rates),
    }
