"""Structural features: degrees, conv kernels, unit survival, density profiles, locality."""

import math

import numpy as np
import pytest

from pipeline.features.dag import Network
from pipeline.features.graph import LayerView
from pipeline.features.locality import input_locality
from pipeline.features.profile import density_profile, erk_profile
from pipeline.features.structural import (
    coefficient_of_variation,
    conv_kernels,
    degree_distribution,
    gini,
    pattern_entropy,
    unit_survival,
)

approx = pytest.approx


def view(name, kind, mask, inputs=("input",), input_shape=()):
    mask = np.asarray(mask, bool)
    w = np.ones(mask.shape, np.float32)
    return LayerView(name, kind, mask, w, w * mask, tuple(inputs), input_shape)


def test_gini_on_simple_vectors():
    assert gini(np.array([1, 1, 1, 1])) == approx(0.0)
    # one holds all: sum |x_i - x_j| = 2 * 3 = 6 over 2 * 16 * 0.25 = 8
    assert gini(np.array([0, 0, 0, 1])) == approx(0.75)
    # 1 2 3: sum over ordered pairs of |x_i - x_j| = 2 * (1 + 2 + 1) = 8, over 2 * 9 * 2
    assert gini(np.array([3, 1, 2])) == approx(8 / 36)
    assert math.isnan(gini(np.zeros(3)))


def test_coefficient_of_variation_on_simple_vectors():
    assert coefficient_of_variation(np.array([2, 2])) == 0.0
    # 1 2 3: population std sqrt(2/3), mean 2
    assert coefficient_of_variation(np.array([1, 2, 3])) == approx(math.sqrt(2 / 3) / 2)
    assert math.isnan(coefficient_of_variation(np.zeros(2)))


def test_degree_distribution_of_a_linear_layer():
    out = degree_distribution(view("fc", "linear", [[1, 1, 0], [1, 0, 0]]))
    # fan-in (rows) 2 1: mean 1.5, std 0.5, Gini 2 / (2 * 4 * 1.5)
    assert out["fan_in_mean"] == approx(1.5)
    assert out["fan_in_cv"] == approx(1 / 3)
    assert out["fan_in_gini"] == approx(1 / 6)
    # fan-out (columns) 2 1 0: mean 1, std sqrt(2/3), Gini 8 / (2 * 9 * 1)
    assert out["fan_out_mean"] == approx(1.0)
    assert out["fan_out_cv"] == approx(math.sqrt(2 / 3))
    assert out["fan_out_gini"] == approx(4 / 9)


# 2 filters, 2 input channels, 2x2 kernels: patterns A, A, B and one empty kernel.
CONV_MASK = [
    [[[1, 0], [0, 1]], [[1, 0], [0, 1]]],
    [[[1, 1], [0, 0]], [[0, 0], [0, 0]]],
]


def test_conv_kernel_survival_and_pattern_entropy():
    out = conv_kernels(view("c", "conv", CONV_MASK, input_shape=(8, 8)))
    assert out["conv_filters_alive"] == 2.0
    assert out["conv_filters_alive_fraction"] == 1.0
    assert out["conv_in_channels_alive"] == 2.0
    assert out["conv_in_channels_alive_fraction"] == 1.0
    assert out["conv_kernels_nonzero_fraction"] == 0.75
    # patterns among the 3 nonzero kernels: A twice, B once
    h = -(2 / 3) * math.log2(2 / 3) - (1 / 3) * math.log2(1 / 3)
    assert out["conv_kernel_pattern_entropy_bits"] == approx(h)
    assert h == approx(0.9182958)


def test_conv_kernels_with_a_dead_filter_and_channel():
    mask = np.zeros((3, 2, 3), bool)
    mask[0, 0] = [1, 0, 1]
    mask[2, 0] = [1, 0, 1]
    out = conv_kernels(view("c", "conv", mask, input_shape=(9,)))
    assert out["conv_filters_alive"] == 2.0
    assert out["conv_filters_alive_fraction"] == approx(2 / 3)
    assert out["conv_in_channels_alive"] == 1.0
    assert out["conv_in_channels_alive_fraction"] == 0.5
    assert out["conv_kernels_nonzero_fraction"] == approx(2 / 6)
    assert out["conv_kernel_pattern_entropy_bits"] == 0.0  # a single pattern


def test_conv_degrees_count_kernel_entries():
    out = degree_distribution(view("c", "conv", CONV_MASK, input_shape=(8, 8)))
    # channel multiplicities [[2, 2], [2, 0]]: filters 4 and 2, channels 4 and 2
    assert out["fan_in_mean"] == 3.0
    assert out["fan_out_mean"] == 3.0
    assert out["fan_in_cv"] == approx(1 / 3)


def test_linear_layers_have_no_conv_rows():
    assert conv_kernels(view("fc", "linear", [[1, 0]])) == {}


def test_pattern_entropy_of_four_equally_likely_patterns_is_two_bits():
    patterns = np.array([[0, 1], [1, 0], [1, 1], [0, 0]], bool)
    assert pattern_entropy(patterns) == approx(2.0)
    assert math.isnan(pattern_entropy(np.zeros((0, 4), bool)))


def chain_3_2_2_1():
    """Three linear layers 3 -> 2 -> 2 -> 1.

    l1: h1_0 <- x0, x1;  h1_1 <- x2
    l2: h2_0 <- h1_0;    h2_1 <- h1_1
    l3: y    <- h2_0     (h2_1 is read by nobody)
    """
    return [
        view("l1", "linear", [[1, 1, 0], [0, 0, 1]]),
        view("l2", "linear", [[1, 0], [0, 1]], inputs=("l1",)),
        view("l3", "linear", [[1, 0]], inputs=("l2",)),
    ]


def test_unit_survival_is_local():
    rows = unit_survival(Network(chain_3_2_2_1()))
    # h1_0, h1_1 have inputs and are read (h1_1 by h2_1, itself a dead end): 2/2.
    # h2_1 has an input but nobody reads it: 1/2. y has an input: 1/1. Pooled 4/5.
    assert rows == [
        ("l1", "units_alive_fraction", 1.0),
        ("l2", "units_alive_fraction", 0.5),
        ("l3", "units_alive_fraction", 1.0),
        ("*", "units_alive_fraction", approx(0.8)),
    ]


def test_unit_survival_through_a_flatten():
    # Both conv channels have weights. fc reads features 0 and 1 of 6, which both
    # belong to channel 0 (j // 3); channel 1 is read by nobody and is dead.
    # (Mapping feature j to channel j % 2 instead would keep both alive.)
    conv = view("c", "conv", [[[1, 1]], [[1, 0]]], input_shape=(4,))
    fc = view("fc", "linear", [[1, 1, 0, 0, 0, 0]], inputs=("c",))
    rows = unit_survival(Network([conv, fc]))
    assert rows[0] == ("c", "units_alive_fraction", 0.5)


def test_erk_profile_without_clipping():
    # (2, 8): sum 10, size 16; (4, 2): sum 6, size 8. Keep 12: eps = 12 / (10 + 6).
    erk = erk_profile([(2, 8), (4, 2)], 12)
    np.testing.assert_allclose(erk, [0.75 * 10 / 16, 0.75 * 6 / 8])
    np.testing.assert_allclose(erk, [0.46875, 0.5625])


def test_erk_profile_clips_at_one_and_redistributes():
    # (1, 100): raw 101/100; (10, 10): raw 20/100. Keep 150: eps = 150/121 would give
    # the first layer 1.25 > 1, so it is dense (100 kept) and the other keeps 50 of 100.
    np.testing.assert_allclose(erk_profile([(1, 100), (10, 10)], 150), [1.0, 0.5])


def test_erk_profile_counts_kernel_dims():
    # conv (4, 2, 3, 3): sum 12, size 72; linear (2, 36): sum 38, size 72. Keep 50.
    eps = 50 / (12 + 38)
    erk = erk_profile([(4, 2, 3, 3), (2, 36)], 50)
    np.testing.assert_allclose(erk, [eps * 12 / 72, eps * 38 / 72])


def test_density_profile_distances():
    # densities 0.5 (8 of 16) and 0.5 (4 of 8): uniform; ERK at 12 kept is 0.46875, 0.5625
    first = np.zeros((2, 8), bool)
    first[0] = True
    second = np.zeros((4, 2), bool)
    second[:2] = True
    layers = [view("a", "linear", first), view("b", "linear", second, inputs=("a",))]
    rows = dict((name, value) for _, name, value in density_profile(Network(layers)))
    assert rows["density"] == 0.5
    assert rows["density_profile_mean_abs_diff_uniform"] == 0.0
    assert rows["density_profile_mean_abs_diff_erk"] == approx((0.03125 + 0.0625) / 2)


def test_input_locality_1d():
    # input positions 0..4; uniform std sqrt((25 - 1) / 12) = sqrt(2).
    # unit 0 reads 0, 1: std 0.5; unit 1 reads 0, 4: std 2; unit 2 reads nothing.
    mask = [[1, 1, 0, 0, 0], [1, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    out = input_locality(view("fc", "linear", mask, input_shape=(5,)))
    assert out["input_locality_spread"] == approx((0.5 + 2) / 2 / math.sqrt(2))


def test_input_locality_2d_pools_channels():
    # 2 channels of a 3x3 image (18 features). The unit reads (0, 0) in channel 0 and
    # (0, 2) in channel 1: row variance 0, column variance 1. Uniform: 2/3 per axis.
    mask = np.zeros((1, 18), bool)
    mask[0, 0] = mask[0, 9 + 2] = True
    out = input_locality(view("fc", "linear", mask, input_shape=(3, 3)))
    assert out["input_locality_spread"] == approx(math.sqrt(1 / (4 / 3)))


def test_input_locality_of_a_conv_uses_kernel_offsets():
    # kernel of 3 taps, 2 channels: taps 0 (channel 0) and 2 (channel 1): variance 1,
    # uniform (9 - 1) / 12.
    mask = [[[1, 0, 0], [0, 0, 1]]]
    out = input_locality(view("c", "conv", mask, input_shape=(10,)))
    assert out["input_locality_spread"] == approx(math.sqrt(1.5))


def test_input_locality_only_for_spatial_first_layers():
    assert input_locality(view("fc", "linear", [[1, 1]], inputs=("l0",))) == {}
    assert input_locality(view("fc", "linear", [[1, 1]])) == {}
    with pytest.raises(ValueError, match="do not tile"):
        input_locality(view("fc", "linear", [[1, 1, 1]], input_shape=(2,)))
