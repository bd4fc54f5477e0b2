"""Heavy-tail metrics of a trained layer's weight spectrum.

The trained weight ``w_final`` is reshaped to ``W`` of shape ``(out, -1)`` (a
conv filter is one row); its empirical spectral density is the set of
eigenvalues of ``W^T W``, i.e. the squared singular values of ``W``. Eigenvalues
at or below numerical zero (``sigma <= sigma_max * max(W.shape) * eps``, as in
``numpy.linalg.matrix_rank``) are dropped.
"""

import math

import numpy as np

from pipeline.features.graph import LayerView
from pipeline.features.registry import layer_feature


def powerlaw_alpha(eigenvalues: np.ndarray) -> float:
    """Power-law exponent of the upper half of a spectrum (continuous MLE).

    With the positive eigenvalues sorted in decreasing order and the tail the top
    ``k = ceil(n / 2)`` of them, ``x_min`` the smallest tail value,
    ``alpha = 1 + k / sum_tail ln(lambda_i / x_min)`` (Clauset, Shalizi & Newman
    2009, eq. 3.1, with x_min fixed at the median rather than fitted). The
    density of the tail is modelled as ``p(lambda) ~ lambda^-alpha``. NaN for
    fewer than two tail values or a flat tail.
    """
    tail = np.sort(eigenvalues)[::-1][: math.ceil(eigenvalues.size / 2)]
    if tail.size < 2:
        return np.nan
    spread = float(np.log(tail / tail[-1]).sum())
    return 1 + tail.size / spread if spread > 0 else np.nan


@layer_feature
def spectral_heavy_tail(layer: LayerView) -> dict[str, float]:
    """Heavy-tail metrics of the trained weights.

    esd_alpha_final: `powerlaw_alpha` of the eigenvalues of W^T W.
    stable_rank_final: ||W||_F^2 / ||W||_2^2 = sum(lambda) / max(lambda).
    Both NaN for an all-zero layer.
    """
    w = layer.w_final.reshape(layer.out_units, -1).astype(np.float64)
    sigma = np.linalg.svd(w, compute_uv=False)
    if sigma[0] == 0:
        return {"esd_alpha_final": np.nan, "stable_rank_final": np.nan}
    sigma = sigma[sigma > sigma[0] * max(w.shape) * np.finfo(np.float64).eps]
    eigenvalues = sigma**2
    return {
        "esd_alpha_final": powerlaw_alpha(eigenvalues),
        "stable_rank_final": float(eigenvalues.sum() / eigenvalues[0]),
    }
