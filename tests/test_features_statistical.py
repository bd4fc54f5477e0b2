"""Statistical and heavy-tail features of one layer, checked by hand."""

import math

import numpy as np
import pytest

from pipeline.features.graph import LayerView
from pipeline.features.heavy_tail import powerlaw_alpha, spectral_heavy_tail
from pipeline.features.statistical import (
    density,
    ks_distance,
    magnitude_distribution,
    moment_stats,
    weight_change,
)

approx = pytest.approx


def linear(mask, w_init, w_final):
    mask = np.asarray(mask, bool)
    return LayerView(
        "fc",
        "linear",
        mask,
        np.asarray(w_init, np.float32),
        np.asarray(w_final, np.float32),
        ("input",),
        (),
    )


# Row 0 survives. |w_init| of survivors: 1 1 3 3; of the whole layer: 1 1 3 3 2 2 2 2.
LAYER = linear(
    mask=[[1, 1, 1, 1], [0, 0, 0, 0]],
    w_init=[[1, -1, 3, -3], [2, -2, 2, -2]],
    w_final=[[2, 0.5, -3, 3], [0, 0, 0, 0]],
)


def test_density():
    assert density(LAYER) == {"density": 0.5}


def test_moments_of_a_symmetric_two_point_sample():
    # 1 1 3 3: mean 2, m2 = 1, m3 = 0, m4 = 1: kurtosis 1 - 3, bimodality (0 + 1) / 1.
    assert moment_stats(np.array([1.0, 1, 3, 3])) == {
        "mean": 2.0,
        "std": 1.0,
        "kurtosis": -2.0,
        "bimodality": 1.0,
    }


def test_moments_of_a_skewed_sample():
    # 0 0 0 4: mean 1, deviations -1 -1 -1 3: m2 = 12/4 = 3, m3 = 24/4 = 6, m4 = 84/4 = 21.
    # skew = 6 / 3^1.5, skew^2 = 4/3; m4/m2^2 = 7/3: kurtosis -2/3, bimodality 1.
    stats = moment_stats(np.array([0.0, 0, 0, 4]))
    assert stats["std"] == approx(math.sqrt(3))
    assert stats["kurtosis"] == approx(-2 / 3)
    assert stats["bimodality"] == approx(1.0)


def test_moments_of_degenerate_samples_are_nan_where_undefined():
    empty = moment_stats(np.array([]))
    assert all(math.isnan(v) for v in empty.values())
    flat = moment_stats(np.array([2.0, 2.0]))
    assert (flat["mean"], flat["std"]) == (2.0, 0.0)
    assert math.isnan(flat["kurtosis"]) and math.isnan(flat["bimodality"])


def test_magnitudes_of_survivors_and_whole_layer():
    out = magnitude_distribution(LAYER)
    assert out["abs_init_mean_survivors"] == approx(2.0)
    assert out["abs_init_std_survivors"] == approx(1.0)
    assert out["abs_init_kurtosis_survivors"] == approx(-2.0)
    assert out["abs_init_bimodality_survivors"] == approx(1.0)
    # all: deviations -1 -1 1 1 0 0 0 0: m2 = 4/8, m4 = 4/8, m4/m2^2 = 2.
    assert out["abs_init_mean_all"] == approx(2.0)
    assert out["abs_init_std_all"] == approx(math.sqrt(0.5))
    assert out["abs_init_kurtosis_all"] == approx(-1.0)
    assert out["abs_init_bimodality_all"] == approx(0.5)
    # |w_final| of survivors: 2 0.5 3 3, mean 2.125; deviations -1/8 -13/8 7/8 7/8:
    # m2 = (1 + 169 + 49 + 49) / 64 / 4 = 268 / 256.
    assert out["abs_final_mean_survivors"] == approx(2.125)
    assert out["abs_final_std_survivors"] == approx(math.sqrt(268 / 256))
    # KS: at |w| = 1 the survivors' CDF is 2/4, the layer's 2/8; at 2: 2/4 vs 6/8.
    assert out["ks_abs_init_survivors_vs_all"] == approx(0.25)
    assert "abs_final_mean_all" not in out


def test_ks_distance():
    assert ks_distance(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == 1.0
    assert ks_distance(np.array([1.0, 2.0]), np.array([2.0, 1.0])) == 0.0
    assert math.isnan(ks_distance(np.array([]), np.array([1.0])))


def test_weight_change_over_survivors():
    out = weight_change(LAYER)
    # |w_T| - |w_0| = 1, -0.5, 0, 0
    assert out["movement_abs_mean_survivors"] == approx(0.125)
    # signs: (+,+) (-,+) (+,-) (-,+): only the first agrees
    assert out["sign_agreement_survivors"] == approx(0.25)
    # w_T - w_0 = 1, 1.5, -6, 6; ||w_0|| on the mask = sqrt(1 + 1 + 9 + 9)
    assert out["update_l2_on_mask"] == approx(math.sqrt(75.25))
    assert out["update_l2_on_mask_relative"] == approx(math.sqrt(75.25) / math.sqrt(20))


def test_weight_change_without_survivors_is_nan():
    empty = linear([[0, 0]], [[1, 2]], [[0, 0]])
    assert all(math.isnan(v) for v in weight_change(empty).values())


def test_powerlaw_alpha_on_the_upper_half():
    # tail = 8, 4 (x_min = 4): 1 + 2 / (ln 2 + ln 1)
    assert powerlaw_alpha(np.array([1.0, 8, 2, 4])) == approx(1 + 2 / math.log(2))
    # n = 3: ceil(3/2) = 2, same tail
    assert powerlaw_alpha(np.array([2.0, 8, 4])) == approx(1 + 2 / math.log(2))
    assert math.isnan(powerlaw_alpha(np.array([5.0])))
    assert math.isnan(powerlaw_alpha(np.array([3.0, 3.0])))


def test_heavy_tail_of_a_diagonal_layer():
    # W = diag(e, sqrt e, 1, 1): eigenvalues of W^T W are e^2, e, 1, 1.
    w = np.diag([math.e, math.sqrt(math.e), 1.0, 1.0])
    out = spectral_heavy_tail(linear(w != 0, w, w))
    # tail e^2, e with x_min = e: alpha = 1 + 2 / ln(e) = 3
    assert out["esd_alpha_final"] == approx(3.0, rel=1e-6)
    assert out["stable_rank_final"] == approx(1 + 1 / math.e + 2 / math.e**2, rel=1e-6)


def test_heavy_tail_drops_null_directions_and_reshapes_convs():
    # 6 filters over 2 channels x 3 taps: W is 6 x 6 with singular values 8, 4, 2 and
    # three zeros (empty filters), which are dropped: eigenvalues 64, 16, 4, so n = 3,
    # the tail is 64, 16 (x_min = 16): alpha = 1 + 2 / ln 4. Keeping the zeros would
    # give n = 6 and a tail 64, 16, 4: 1 + 3 / ln 64.
    w = np.zeros((6, 2, 3), np.float32)
    w[0, 0, 0], w[1, 0, 1], w[2, 0, 2] = 8, 4, 2
    layer = LayerView("c", "conv", w != 0, w, w, ("input",), (6,))
    out = spectral_heavy_tail(layer)
    assert out["esd_alpha_final"] == approx(1 + 2 / math.log(4))
    assert out["stable_rank_final"] == approx(84 / 64)


def test_heavy_tail_of_an_empty_layer_is_nan():
    out = spectral_heavy_tail(linear([[0, 0]], [[1, 1]], [[0, 0]]))
    assert all(math.isnan(v) for v in out.values())
