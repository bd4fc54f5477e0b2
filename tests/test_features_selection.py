import numpy as np
import pytest

from pipeline.features.graph import LayerView
from pipeline.features.selection import init_selection


def test_keep_rates_by_initial_magnitude_decile_and_sign():
    # 20 weights: |w| = 1..20, alternating sign; the mask keeps the 4 largest (17..20).
    magnitude = np.arange(1, 21, dtype=np.float32)
    w = magnitude * np.where(np.arange(20) % 2 == 0, 1, -1)
    mask = magnitude > 16
    layer = LayerView(
        "fc", "linear", mask.reshape(4, 5), w.reshape(4, 5), w.reshape(4, 5), ("input",), ()
    )
    out = init_selection(layer)
    # deciles of 2 weights each; the top two deciles hold exactly the kept weights:
    # P(kept | top decile) = 1, density = 0.2, so the relative rate is 5.
    assert [out[f"keep_rel_abs_init_d{k}"] for k in range(10)] == [0] * 8 + [5.0, 5.0]
    # w > 0 at even positions: 1, 3, ..., 19 -> kept: 17 and 19 (2 of 10) -> 0.2 / 0.2 = 1
    assert out["keep_rel_init_positive"] == pytest.approx(1.0)


def test_an_empty_mask_gives_nan():
    w = np.ones((2, 2), dtype=np.float32)
    layer = LayerView("fc", "linear", np.zeros((2, 2), bool), w, w, ("input",), ())
    assert np.isnan(init_selection(layer)["keep_rel_abs_init_d0"])
